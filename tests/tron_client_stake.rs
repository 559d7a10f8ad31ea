//! The client's Stake 2.0 reads against the real simulator over HTTP:
//! stake, delegations and what can still be delegated, typed, with absent
//! fields as zero; and `walletops tron-sim --resource-window-blocks`.

mod common;

use std::time::Duration;

use common::chain::{client, eventually, fund, key, land, now_ms};
use walletops::sim::{SimConfig, Simulator};
use walletops::tron::client::PerResource;
use walletops::tron::tx::{Contract, Resource};
use walletops::tron::{Address, PrivateKey, Sun, TokenUnits};

const TRX: u64 = 1_000_000;

fn freeze(owner: &PrivateKey, sun: u64, resource: Resource) -> Contract {
    Contract::FreezeBalanceV2 {
        owner: owner.address(),
        frozen_balance: Sun(sun),
        resource,
    }
}

#[tokio::test]
async fn stake_delegations_and_delegable_amounts_read_as_typed_values() {
    // 1,000 TRX staked elsewhere and 2,000,000 energy a day: 2,000 TRX
    // staked here makes the weight 3,000.
    let sim = Simulator::spawn(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        block_interval: Duration::from_millis(50),
        solidify_blocks: 3,
        total_energy_limit: 2_000_000,
        network_energy_weight: 1_000,
        total_net_limit: 2_000_000,
        network_net_weight: 1_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let c = client(sim.url().clone());
    let (pool, wallet, stranger) = (key(1), key(2), key(3));
    fund(sim.url(), &pool.address(), 3_000 * TRX, 0).await;
    fund(sim.url(), &wallet.address(), TRX, 0).await;

    // Nothing staked, nothing delegated, unknown accounts: all zero.
    for addr in [pool.address(), stranger.address()] {
        assert_eq!(c.stake_v2(&addr).await.unwrap(), Default::default());
        assert_eq!(
            c.can_delegated_max_size(&addr, Resource::Energy)
                .await
                .unwrap(),
            Sun::ZERO
        );
        assert_eq!(
            c.delegated_resource_index_v2(&addr).await.unwrap(),
            Default::default()
        );
    }
    assert!(
        c.delegated_resource_v2(&pool.address(), &wallet.address())
            .await
            .unwrap()
            .is_empty()
    );

    land(
        &c,
        &pool,
        freeze(&pool, 2_000 * TRX, Resource::Energy),
        Sun::ZERO,
    )
    .await;
    land(
        &c,
        &pool,
        freeze(&pool, 100 * TRX, Resource::Bandwidth),
        Sun::ZERO,
    )
    .await;
    let delegate = Contract::DelegateResource {
        owner: pool.address(),
        resource: Resource::Energy,
        balance: Sun(500 * TRX),
        receiver: wallet.address(),
        lock: false,
        lock_period: 0,
    };
    land(&c, &pool, delegate, Sun::ZERO).await;

    let stake = c.stake_v2(&pool.address()).await.unwrap();
    assert_eq!(
        stake.frozen,
        PerResource {
            bandwidth: Sun(100 * TRX),
            energy: Sun(1_500 * TRX),
        }
    );
    assert_eq!(stake.delegated_out.get(Resource::Energy), Sun(500 * TRX));
    assert_eq!(stake.acquired, PerResource::default());
    assert!(stake.unfreezing.is_empty());
    let received = c.stake_v2(&wallet.address()).await.unwrap();
    assert_eq!(received.acquired.get(Resource::Energy), Sun(500 * TRX));
    assert_eq!(received.frozen, PerResource::default());

    let r = c.get_account_resource(&pool.address()).await.unwrap();
    assert_eq!(r.total_energy_limit, 2_000_000);
    assert_eq!(r.total_energy_weight, 3_000);
    assert_eq!(r.total_net_limit, 2_000_000);
    assert_eq!(r.total_net_weight, 1_100);
    assert_eq!(r.energy_limit, 1_000_000);
    assert_eq!(r.energy_used, 0);
    let r = c.get_account_resource(&wallet.address()).await.unwrap();
    assert_eq!(r.energy_limit, 333_333);
    assert_eq!(r.energy_available(), 333_333);

    let list = c
        .delegated_resource_v2(&pool.address(), &wallet.address())
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0].from, list[0].to),
        (pool.address(), wallet.address())
    );
    assert_eq!(list[0].frozen.energy, Sun(500 * TRX));
    assert_eq!(list[0].frozen.bandwidth, Sun::ZERO);
    assert_eq!(list[0].expire_energy_ms, 0);
    let index = c
        .delegated_resource_index_v2(&pool.address())
        .await
        .unwrap();
    assert_eq!(index.to_accounts, vec![wallet.address()]);
    assert!(index.from_accounts.is_empty());
    let index = c
        .delegated_resource_index_v2(&wallet.address())
        .await
        .unwrap();
    assert_eq!(index.from_accounts, vec![pool.address()]);
    assert_eq!(
        c.can_delegated_max_size(&pool.address(), Resource::Energy)
            .await
            .unwrap(),
        Sun(1_500 * TRX)
    );

    // Taking it back and starting to unstake show up too.
    let undelegate = Contract::UnDelegateResource {
        owner: pool.address(),
        resource: Resource::Energy,
        balance: Sun(500 * TRX),
        receiver: wallet.address(),
    };
    land(&c, &pool, undelegate, Sun::ZERO).await;
    let unfreeze = Contract::UnfreezeBalanceV2 {
        owner: pool.address(),
        unfreeze_balance: Sun(300 * TRX),
        resource: Resource::Energy,
    };
    let before = now_ms();
    land(&c, &pool, unfreeze, Sun::ZERO).await;
    assert!(
        c.delegated_resource_v2(&pool.address(), &wallet.address())
            .await
            .unwrap()
            .is_empty()
    );
    let stake = c.stake_v2(&pool.address()).await.unwrap();
    assert_eq!(stake.frozen.energy, Sun(1_700 * TRX));
    assert_eq!(stake.delegated_out, PerResource::default());
    assert_eq!(stake.unfreezing.len(), 1, "{stake:?}");
    let u = stake.unfreezing[0];
    assert_eq!((u.resource, u.amount), (Resource::Energy, Sun(300 * TRX)));
    assert!(u.expire_ms > before, "{u:?}");
    assert_eq!(
        c.stake_v2(&wallet.address()).await.unwrap(),
        Default::default()
    );
}

/// With `--resource-window-blocks 20` and 50 ms blocks, energy spent from
/// stake is back within a second; the mainnet window would take 24 minutes.
#[test]
fn the_tron_sim_command_shrinks_the_resource_window() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_walletops"))
        .args([
            "tron-sim",
            "--listen",
            "127.0.0.1:0",
            "--block-ms",
            "50",
            "--resource-window-blocks",
            "20",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url: url::Url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the URL is printed")
        .parse()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let outcome = rt.block_on(async {
        let c = client(url.clone());
        let (owner, to) = (key(4), key(5));
        let usdt: Address = walletops::tron::MAINNET_USDT.parse().unwrap();
        fund(&url, &owner.address(), 30_000 * TRX, 1_000).await;
        fund(&url, &to.address(), TRX, 1).await;
        land(
            &c,
            &owner,
            freeze(&owner, 20_000 * TRX, Resource::Energy),
            Sun::ZERO,
        )
        .await;
        let transfer =
            Contract::trc20_transfer(owner.address(), usdt, to.address(), TokenUnits(10));
        land(&c, &owner, transfer, Sun(100 * TRX)).await;
        let used = c.get_account_resource(&owner.address()).await.unwrap();
        let recovered = eventually(|| async {
            let r = c.get_account_resource(&owner.address()).await.unwrap();
            (r.energy_used == 0).then_some(r)
        })
        .await;
        (used, recovered)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let (used, recovered) = outcome;
    assert!(line.contains("resources recover over 20 blocks"), "{line}");
    assert!(used.energy_used > 0, "{used:?}");
    assert_eq!(recovered.energy_limit, used.energy_limit);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_walletops"))
        .args(["tron-sim", "--resource-window-blocks", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
