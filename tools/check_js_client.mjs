// Polymarket's official TypeScript client (@polymarket/clob-client-v2) against a running
// `dualmm sim-server` (the Python client's checks are tests/test_official_clients.py).
// `make check-js` does all of this (tools/check_js_client.sh); by hand:
//
//   npm install --prefix /tmp/jsclient @polymarket/clob-client-v2 ethers@5
//   dualmm sim-server --port 8765          # prints a throwaway test key
//   CLOB_CLIENT_DIR=/tmp/jsclient node tools/check_js_client.mjs http://127.0.0.1:8765 0xKEY
//
// Each check has a deadline, so a client that pages forever fails instead of hanging; the
// last line says how many passed. Exit code 1 if any failed.
import { createRequire } from "node:module";

const require = createRequire(`${process.env.CLOB_CLIENT_DIR ?? "."}/`);
const { ClobClient, OrderType, Side } = require("@polymarket/clob-client-v2");
const { Wallet } = require("ethers");

const [host, key] = process.argv.slice(2);
const DEADLINE_MS = 30_000;
let passed = 0;
let failed = 0;

async function check(name, run) {
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error("no answer in time (paging forever?)")), DEADLINE_MS),
  );
  try {
    const detail = await Promise.race([run(), timeout]);
    passed += 1;
    console.log(`ok   ${name}${detail ? `: ${detail}` : ""}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${error?.message ?? error}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const signer = new Wallet(key);
const anonymous = new ClobClient({ host, chain: 137, signer, throwOnError: true });
const creds = await anonymous.createOrDeriveApiKey();
const client = new ClobClient({ host, chain: 137, signer, creds, throwOnError: true });

let token;
let book;
await check("getMarkets ends on LTE=", async () => {
  const page = await client.getMarkets();
  assert(page.next_cursor === "LTE=", `next_cursor ${page.next_cursor}`);
  // A two-sided book whose best ask the wallet can buy out (a rich market's reward makers can
  // hold tens of thousands of shares there), as tests/test_official_clients.py picks it.
  for (const market of page.data) {
    const candidate = market.tokens[0].token_id;
    const found = await client.getOrderBook(candidate);
    if (!found.bids.length || !found.asks.length) continue;
    const best = found.asks[found.asks.length - 1];
    if (Number(best.price) * (Number(best.size) + 100) < 1000) {
      token = candidate;
      book = found;
      break;
    }
  }
  assert(token, "no two-sided book the wallet can buy out at the best ask");
  return `${page.data.length} markets`;
});
await check("getOk", async () => assert((await client.getOk()) === "OK", "not OK"));
await check("getMidpoint", async () => (await client.getMidpoint(token)).mid ?? "mid_price");
await check("getSpreads", async () => {
  const spreads = await client.getSpreads([{ token_id: token }]);
  assert(spreads[token] !== undefined, JSON.stringify(spreads));
  return spreads[token];
});
await check("getTickSize", async () => client.getTickSize(token));
await check("getOpenOrders ends", async () => `${(await client.getOpenOrders()).length} open`);
await check("getTrades ends", async () => `${(await client.getTrades()).length} trades`);
await check("getCurrentRewards ends", async () => `${(await client.getCurrentRewards()).length}`);

const tickSize = await client.getTickSize(token);
const bestBid = Number(book.bids[book.bids.length - 1].price);
const bestAsk = Number(book.asks[book.asks.length - 1].price);
const askSize = Number(book.asks[book.asks.length - 1].size);
await check("postOrders + cancelOrders (batch)", async () => {
  const orders = [];
  for (const k of [1, 2]) {
    const order = await client.createOrder(
      { tokenID: token, price: Math.round((bestBid - k * 0.01) * 100) / 100, size: 10, side: Side.BUY },
      { tickSize },
    );
    orders.push({ order, orderType: OrderType.GTC });
  }
  const placed = await client.postOrders(orders, true);
  assert(placed.every((p) => p.success), JSON.stringify(placed));
  const ids = placed.map((p) => p.orderID);
  const open = await client.getOpenOrders();
  assert(ids.every((id) => open.some((o) => o.id === id)), "not open");
  const cancelled = await client.cancelOrders(ids);
  assert(cancelled.canceled.length === 2, JSON.stringify(cancelled));
  return "2 placed, 2 cancelled";
});
await check("FOK fills entirely", async () => {
  const size = Math.min(askSize, 10);
  const order = await client.createOrder(
    { tokenID: token, price: bestAsk, size, side: Side.BUY },
    { tickSize },
  );
  const answer = await client.postOrder(order, OrderType.FOK);
  assert(answer.success && answer.status === "matched", JSON.stringify(answer));
  return `${answer.takingAmount} shares`;
});
await check("FOK too big is killed", async () => {
  const order = await client.createOrder(
    { tokenID: token, price: 0.99, size: 1_000_000, side: Side.BUY },
    { tickSize },
  );
  try {
    await client.postOrder(order, OrderType.FOK);
  } catch (error) {
    return "killed";
  }
  throw new Error("not killed");
});
await check("FAK fills what it can", async () => {
  const order = await client.createOrder(
    { tokenID: token, price: bestAsk, size: askSize + 50, side: Side.BUY },
    { tickSize },
  );
  const answer = await client.postOrder(order, OrderType.FAK);
  assert(answer.success, JSON.stringify(answer));
  return `${answer.takingAmount} of ${askSize + 50}`;
});
await check("createAndPostMarketOrder (FOK)", async () => {
  const answer = await client.createAndPostMarketOrder(
    { tokenID: token, amount: 20, side: Side.BUY },
    { tickSize },
    OrderType.FOK,
  );
  assert(answer.success, JSON.stringify(answer));
  return answer.status;
});
await check("getOpenOrders is empty again", async () => {
  const open = await client.getOpenOrders();
  assert(open.length === 0, `${open.length} open`);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
