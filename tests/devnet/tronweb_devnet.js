// TronWeb, unmodified, against `walletops tron-sim`: read, send TRX and USDT,
// read receipts and events, and see the node's errors.
//
// Environment: TRON_SIM_URL, TRON_SIM_USDT, TRON_SIM_KEY0, TRON_SIM_KEY1 (two
// funded accounts). Prints one `PASS name` or `FAIL name: why` line per call
// and exits 1 if any failed (tests/devnet_libs.rs runs it).
'use strict';

const { TronWeb } = require('tronweb');

const URL = process.env.TRON_SIM_URL;
const USDT = process.env.TRON_SIM_USDT;
const KEY0 = process.env.TRON_SIM_KEY0;
const KEY1 = process.env.TRON_SIM_KEY1;
const TRANSFER_TOPIC = 'ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';

const tronWeb = new TronWeb({ fullHost: URL, privateKey: KEY0 });
const A0 = tronWeb.address.fromPrivateKey(KEY0);
const A1 = tronWeb.address.fromPrivateKey(KEY1);
const failures = [];
const state = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

async function check(name, fn) {
  try {
    const detail = await fn();
    console.log(`PASS ${name}${detail === undefined ? '' : `: ${detail}`}`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}: ${e && e.message ? e.message : JSON.stringify(e)}`);
  }
}

async function info(txid) {
  for (let i = 0; i < 60; i++) {
    const r = await tronWeb.trx.getTransactionInfo(txid);
    if (r && r.blockNumber) return r;
    await sleep(300);
  }
  throw new Error(`transaction ${txid} never mined`);
}

// TronWeb builds TRX transfers itself on the head block from
// `/wallet/getblock` ({"detail": false}): its default path, no options.
async function sendTrx(amount) {
  return tronWeb.transactionBuilder.sendTrx(A1, amount, A0);
}

// Broadcasts and expects the node's refusal `code`.
async function refused(tx, code) {
  const r = await tronWeb.trx.sendRawTransaction(tx);
  assert(r.code === code, `code ${code}, got ${JSON.stringify(r)}`);
  return `${r.code}: ${Buffer.from(r.message, 'hex').toString()}`;
}

async function main() {
  await check('trx.getCurrentBlock (getnowblock)', async () => {
    const b = await tronWeb.trx.getCurrentBlock();
    return `block ${b.block_header.raw_data.number}`;
  });
  await check('trx.getNodeInfo (getnodeinfo)', async () => {
    const n = await tronWeb.trx.getNodeInfo();
    assert(n.block.startsWith('Num:'), JSON.stringify(n));
  });
  await check('trx.getBalance (walletsolidity/getaccount)', async () => {
    const b = await tronWeb.trx.getBalance(A0);
    assert(b > 0, b);
    return b;
  });
  await check('trx.getUnconfirmedBalance (getaccount)', async () => tronWeb.trx.getUnconfirmedBalance(A0));
  await check('trx.getBandwidth (getaccountnet)', async () => tronWeb.trx.getBandwidth(A0));
  await check('transactionBuilder.sendTrx, trx.sign, trx.sendRawTransaction', async () => {
    const r = await tronWeb.trx.sendRawTransaction(await tronWeb.trx.sign(await sendTrx(1000000), KEY0));
    assert(r.result === true, JSON.stringify(r));
    const i = await info(r.txid);
    state.trxTxid = r.txid;
    return `block ${i.blockNumber}`;
  });
  await check('trx.getTransaction (gettransactionbyid)', async () => {
    const tx = await tronWeb.trx.getTransaction(state.trxTxid);
    assert(tx.ret[0].contractRet === 'SUCCESS', JSON.stringify(tx));
  });
  await check('contract().at (getcontract ABI)', async () => {
    state.usdt = await tronWeb.contract().at(USDT);
    assert(typeof state.usdt.transfer === 'function', 'no transfer method');
  });
  await check('contract.balanceOf().call (triggerconstantcontract)', async () => {
    const b = await state.usdt.balanceOf(A0).call();
    assert(BigInt(b.toString()) > 0n, b.toString());
    return b.toString();
  });
  await check('transactionBuilder.estimateEnergy (estimateenergy)', async () => {
    const r = await tronWeb.transactionBuilder.estimateEnergy(
      USDT, 'transfer(address,uint256)', {},
      [{ type: 'address', value: A1 }, { type: 'uint256', value: 1 }], A0);
    assert(r.energy_required > 0, JSON.stringify(r));
    return r.energy_required;
  });
  await check('contract.transfer().send (triggersmartcontract, broadcasttransaction)', async () => {
    const before = BigInt((await state.usdt.balanceOf(A1).call()).toString());
    const txid = await state.usdt.transfer(A1, 5000000).send({ feeLimit: 100000000 });
    state.usdtInfo = await info(txid);
    const after = BigInt((await state.usdt.balanceOf(A1).call()).toString());
    assert(after === before + 5000000n, `${before} -> ${after}`);
    return `${before} -> ${after}`;
  });
  await check('trx.getTransactionInfo receipt and Transfer log', async () => {
    const i = state.usdtInfo;
    assert(i.receipt.result === 'SUCCESS', JSON.stringify(i));
    const log = i.log[0];
    assert(log.topics[0] === TRANSFER_TOPIC, JSON.stringify(log));
    const to = tronWeb.address.fromHex('41' + log.topics[2].slice(24));
    assert(to === A1, `Transfer to ${to}`);
    return `energy ${i.receipt.energy_usage_total}, Transfer to ${to} of ${BigInt('0x' + log.data)}`;
  });
  await check('trx.getConfirmedTransaction (walletsolidity)', async () => {
    for (let i = 0; i < 60; i++) {
      try {
        const tx = await tronWeb.trx.getConfirmedTransaction(state.trxTxid);
        if (tx && tx.txID) return 'solidified';
      } catch (e) { /* not yet solid */ }
      await sleep(300);
    }
    throw new Error('never solidified');
  });
  await check('error: bad signature', async () => {
    const tx = await sendTrx(1);
    // Signed by the wrong key: multisig mode skips TronWeb's own check.
    const signed = await tronWeb.trx.sign(tx, KEY1, true, true);
    return refused(signed, 'SIGERROR');
  });
  await check('error: expired', async () => {
    let tx = await sendTrx(2);
    tx = await tronWeb.transactionBuilder.extendExpiration(tx, -56);
    const signed = await tronWeb.trx.sign(tx, KEY0);
    await sleep(5000);
    return refused(signed, 'TRANSACTION_EXPIRATION_ERROR');
  });
  await check('error: duplicate', async () => {
    const tx = await sendTrx(3);
    const signed = await tronWeb.trx.sign(tx, KEY0);
    const first = await tronWeb.trx.sendRawTransaction(signed);
    assert(first.result === true, JSON.stringify(first));
    return refused(signed, 'DUP_TRANSACTION_ERROR');
  });
  await check('error: insufficient balance', async () => {
    const signed = await tronWeb.trx.sign(await sendTrx(1e15), KEY0);
    const why = await refused(signed, 'CONTRACT_VALIDATE_ERROR');
    assert(why.includes('balance is not sufficient'), why);
    return why;
  });
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL script: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
