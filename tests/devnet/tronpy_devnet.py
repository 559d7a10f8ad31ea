"""tronpy, unmodified, against `walletops tron-sim`: read, send TRX and USDT,
read receipts and events, and see the node's errors.

Environment: TRON_SIM_URL, TRON_SIM_USDT, TRON_SIM_KEY0, TRON_SIM_KEY1 (two
funded accounts). Prints one `PASS name` or `FAIL name: why` line per call
and exits 1 if any failed (tests/devnet_libs.rs runs it).
"""

import os
import sys
import time

from tronpy import Tron
from tronpy.exceptions import BadSignature, TransactionError, UnknownError, ValidationError
from tronpy.keys import PrivateKey
from tronpy.providers import HTTPProvider

URL = os.environ["TRON_SIM_URL"]
USDT = os.environ["TRON_SIM_USDT"]
KEY0 = PrivateKey(bytes.fromhex(os.environ["TRON_SIM_KEY0"]))
KEY1 = PrivateKey(bytes.fromhex(os.environ["TRON_SIM_KEY1"]))
A0 = KEY0.public_key.to_base58check_address()
A1 = KEY1.public_key.to_base58check_address()
TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"

client = Tron(HTTPProvider(URL))
failures = []


def check(name, fn):
    try:
        detail = fn()
        print(f"PASS {name}" + (f": {detail}" if detail is not None else ""), flush=True)
    except Exception as e:  # every failure is reported, then the next call runs
        failures.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)


def expect_error(exc_type, needle, fn):
    def run():
        try:
            fn()
        except exc_type as e:
            assert needle in str(e), f"{exc_type.__name__} without {needle!r}: {e}"
            return f"{exc_type.__name__}: {e}"
        raise AssertionError(f"no {exc_type.__name__} raised")

    return run


def head_number():
    n = client.get_latest_block_number()
    assert n >= 0
    return n


def balance():
    b = client.get_account_balance(A0)
    assert b > 0, b
    return str(b)


state = {}


def send_trx():
    receipt = client.trx.transfer(A0, A1, 1_000_000).build().sign(KEY0).broadcast().wait(timeout=20, interval=0.3)
    assert receipt["blockNumber"] > 0, receipt
    state["trx_txid"] = receipt["id"]
    return f"block {receipt['blockNumber']}"


def read_transaction():
    tx = client.get_transaction(state["trx_txid"])
    assert tx["ret"][0]["contractRet"] == "SUCCESS", tx
    value = tx["raw_data"]["contract"][0]["parameter"]["value"]
    assert value["to_address"] == A1 and value["amount"] == 1_000_000, value


def bandwidth():
    return client.get_bandwidth(A0)


def contract():
    state["usdt"] = client.get_contract(USDT)
    names = [f.name for f in state["usdt"].functions]
    assert "transfer" in names and "balanceOf" in names, names


def balance_of():
    b = state["usdt"].functions.balanceOf(A0)
    assert b > 0, b
    return b


def estimate():
    param = state["usdt"].functions.transfer._prepare_parameter(A1, 1)
    energy = client.get_estimated_energy(A0, USDT, "transfer(address,uint256)", param)
    assert energy > 0, energy
    return energy


def send_usdt():
    before = state["usdt"].functions.balanceOf(A1)
    txn = state["usdt"].functions.transfer(A1, 5_000_000).with_owner(A0).fee_limit(100_000_000).build().sign(KEY0)
    ret = txn.broadcast()
    assert ret.result(timeout=20, interval=0.3) is True
    state["usdt_receipt"] = ret.wait(timeout=20, interval=0.3)
    after = state["usdt"].functions.balanceOf(A1)
    assert after == before + 5_000_000, (before, after)
    return f"{before} -> {after}"


def receipt():
    r = state["usdt_receipt"]
    assert r["receipt"]["result"] == "SUCCESS", r
    assert r["receipt"]["energy_usage_total"] > 0, r
    assert r["log"][0]["topics"][0] == TRANSFER_TOPIC, r
    return f"energy {r['receipt']['energy_usage_total']}, fee {r.get('fee', 0)}"


def events():
    evs = list(state["usdt"].events.Transfer.process_receipt(state["usdt_receipt"]))
    assert len(evs) == 1, evs
    args = evs[0]["args"]
    assert args["to"] == A1 and args["value"] == 5_000_000, evs
    return f"Transfer to {args['to']} of {args['value']}"


def solid_info():
    deadline = time.time() + 20
    while time.time() < deadline:
        info = client.get_solid_transaction_info(state["trx_txid"])
        if info:
            return f"block {info['blockNumber']}"
        time.sleep(0.3)
    raise AssertionError("never solidified")


def bad_signature():
    txn = client.trx.transfer(A0, A1, 1).build()
    # Signed by the wrong key: the library checks nothing, the node does.
    txn.set_signature([KEY1.sign_msg_hash(bytes.fromhex(txn.txid)).hex()])
    txn.broadcast()


def expired():
    txn = client.trx.transfer(A0, A1, 2).expiration(1_000).build().sign(KEY0)
    time.sleep(2.5)
    txn.broadcast()


def duplicate():
    txn = client.trx.transfer(A0, A1, 3).build().sign(KEY0)
    txn.broadcast()
    txn.broadcast()


def insufficient():
    client.trx.transfer(A0, A1, 10**15).build().sign(KEY0).broadcast()


check("get_latest_block_number (getnodeinfo)", head_number)
check("get_account_balance (getaccount)", balance)
check("trx.transfer build/sign/broadcast/wait", send_trx)
check("get_transaction (gettransactionbyid)", read_transaction)
check("get_bandwidth (getaccountnet)", bandwidth)
check("get_contract (getcontract ABI)", contract)
check("functions.balanceOf (triggerconstantcontract)", balance_of)
check("get_estimated_energy (estimateenergy)", estimate)
check("functions.transfer build/sign/broadcast/result", send_usdt)
check("transaction info receipt", receipt)
check("events.Transfer.process_receipt", events)
check("get_solid_transaction_info (walletsolidity)", solid_info)
check("error: bad signature", expect_error(BadSignature, "ignature", bad_signature))
check("error: expired", expect_error(TransactionError, "Transaction expired", expired))
check("error: duplicate", expect_error(UnknownError, "", duplicate))
check("error: insufficient balance", expect_error(ValidationError, "balance is not sufficient", insufficient))

sys.exit(1 if failures else 0)
