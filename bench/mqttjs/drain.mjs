// A bare mqtt.js subscriber draining a primed persistent session (bench/sessions.py): MQTT 5,
// QoS 1, the ingester's receive maximum, each message acknowledged on receipt by mqtt.js,
// nothing else done with it. Prints one JSON line: {started, finished, received, distinct}
// (wall-clock seconds; started just before CONNECT, finished at the last distinct message).
//
// node drain.mjs <url> <client id> <receive maximum> <session expiry s> <expected> [stall s]
import mqtt from "mqtt";

const [url, clientId, receiveMaximum, expiry, expected, stallArg] = process.argv.slice(2);
const want = Number(expected);
const stallMs = 1000 * Number(stallArg ?? 15);
const seen = new Set();
let received = 0;
let finished = 0;
let moved = Date.now();

const started = Date.now() / 1000;
const client = mqtt.connect(url, {
  clientId,
  clean: false,
  protocolVersion: 5,
  reconnectPeriod: 0,
  properties: {
    sessionExpiryInterval: Number(expiry),
    receiveMaximum: Number(receiveMaximum),
  },
});

function done(code) {
  client.end(true, () => {
    const answer = { started, finished: finished || Date.now() / 1000, received, distinct: seen.size };
    process.stdout.write(JSON.stringify(answer) + "\n");
    process.exit(code);
  });
}

client.on("message", (_topic, payload) => {
  received += 1;
  moved = Date.now();
  seen.add(payload.toString("latin1"));
  if (seen.size === want && !finished) {
    finished = Date.now() / 1000;
    setImmediate(() => done(0));
  }
});
client.on("error", (err) => {
  process.stderr.write(`mqtt.js: ${err.message}\n`);
  done(2);
});
setInterval(() => {
  if (Date.now() - moved > stallMs) done(1);
}, 200);
