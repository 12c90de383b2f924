// Independent CSMS peer for josev interop tests: the npm package ocpp-rpc in strict mode, which validates
// every message in both directions against the official OCPP 2.0.1 JSON schemas (formats included).
// stdout: one JSON object per line ({type: "listening"|"call"|"result"|"failure"|"connected"|"closed"}).
// stdin: one JSON object per line {id, method, params}: a CALL sent to the connected station.
'use strict';
const readline = require('readline');
const { RPCServer } = require('ocpp-rpc');

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const now = () => new Date().toISOString();
let station = null;

const server = new RPCServer({ protocols: ['ocpp2.0.1'], strictMode: true });

server.on('client', (client) => {
  station = client;
  out({ type: 'connected', identity: client.identity, protocol: client.protocol });
  client.on('strictValidationFailure', (ev) => {
    out({ type: 'failure', method: ev.method, outbound: ev.outbound, isCall: ev.isCall,
          error: String(ev.error && ev.error.message), details: ev.error && ev.error.details });
  });
  client.on('close', () => out({ type: 'closed' }));
  const record = (method, reply) => client.handle(method, ({ params }) => {
    out({ type: 'call', method, params });
    return reply(params);
  });
  record('BootNotification', () => ({ status: 'Accepted', currentTime: now(), interval: 300 }));
  record('Heartbeat', () => ({ currentTime: now() }));
  record('StatusNotification', () => ({}));
  record('Authorize', () => ({
    idTokenInfo: { status: 'Accepted', personalMessage: { format: 'UTF8', content: '0.39 EUR/kWh' } },
  }));
  record('TransactionEvent', (p) => (p.eventType === 'Ended' ? { totalCost: 4.2 } : {}));
  record('MeterValues', () => ({}));
  record('NotifyReport', () => ({}));
  record('SecurityEventNotification', () => ({}));
  record('FirmwareStatusNotification', () => ({}));
  record('LogStatusNotification', () => ({}));
  record('NotifyCustomerInformation', () => ({}));
  record('ReservationStatusUpdate', () => ({}));
  record('NotifyDisplayMessages', () => ({}));
  record('NotifyEvent', () => ({}));
  record('NotifyMonitoringReport', () => ({}));
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const req = JSON.parse(line);
  try {
    const result = await station.call(req.method, req.params);
    out({ type: 'result', id: req.id, result });
  } catch (err) {
    out({ type: 'result', id: req.id, error: String(err.message), code: err.rpcErrorCode || null });
  }
});
rl.on('close', () => process.exit(0));

server.listen(0, '127.0.0.1').then((httpServer) => {
  out({ type: 'listening', port: httpServer.address().port });
});
