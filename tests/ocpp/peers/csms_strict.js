// Independent CSMS peer for josev interop tests: the npm package ocpp-rpc in strict mode, which validates
// every message in both directions against the official OCPP 2.0.1 JSON schemas (formats included).
// stdout: one JSON object per line ({type: "listening"|"call"|"result"|"failure"|"connected"|"closed"}).
// stdin: one JSON object per line {id, method, params}: a CALL sent to the connected station.
'use strict';
const readline = require('readline');
const fs = require('fs');
const https = require('https');
const { RPCServer } = require('ocpp-rpc');

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const now = () => new Date().toISOString();
let station = null;

const server = new RPCServer({ protocols: ['ocpp2.0.1'], strictMode: true });
// TLS (security profiles 2 and 3): CSMS_TLS_CERT / CSMS_TLS_KEY (PEM files) serve wss://; with CSMS_TLS_CA the
// server requires a client certificate issued by that CA (profile 3) and refuses any other.
const tls = process.env.CSMS_TLS_CERT ? {
  cert: fs.readFileSync(process.env.CSMS_TLS_CERT),
  key: fs.readFileSync(process.env.CSMS_TLS_KEY),
  minVersion: 'TLSv1.2',
} : null;
if (tls && process.env.CSMS_TLS_CA) {
  tls.ca = fs.readFileSync(process.env.CSMS_TLS_CA);
  tls.requestCert = true;
  tls.rejectUnauthorized = true;
}
// canned replies set over stdin ({method: "__reply", params: {method, reply}}) replace the defaults below
const replies = {};
if (tls) {
  server.auth((accept, reject, handshake) => {
    const sock = handshake.request.socket;
    const pc = sock.getPeerCertificate ? sock.getPeerCertificate() : null;
    out({ type: 'tls', authorized: sock.authorized === true, protocol: sock.getProtocol(),
          subjectCN: pc && pc.subject ? pc.subject.CN : null,
          fingerprint256: pc && pc.fingerprint256 ? pc.fingerprint256 : null,
          basicAuth: handshake.password !== undefined });
    accept();
  });
}

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
    return replies[method] !== undefined ? replies[method] : reply(params);
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
  record('SignCertificate', () => ({ status: 'Accepted' }));
  record('Get15118EVCertificate', () => ({ status: 'Failed', exiResponse: '' }));
  record('GetCertificateStatus', () => ({ status: 'Failed' }));
  record('ReservationStatusUpdate', () => ({}));
  record('NotifyDisplayMessages', () => ({}));
  record('NotifyEvent', () => ({}));
  record('NotifyMonitoringReport', () => ({}));
  record('ReportChargingProfiles', () => ({}));
  record('NotifyChargingLimit', () => ({}));
  record('ClearedChargingLimit', () => ({}));
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const req = JSON.parse(line);
  if (req.method === '__reply') {
    replies[req.params.method] = req.params.reply;
    out({ type: 'result', id: req.id, result: {} });
    return;
  }
  try {
    const result = await station.call(req.method, req.params);
    out({ type: 'result', id: req.id, result });
  } catch (err) {
    out({ type: 'result', id: req.id, error: String(err.message), code: err.rpcErrorCode || null });
  }
});
rl.on('close', () => process.exit(0));

if (tls) {
  const httpsServer = https.createServer(tls);
  httpsServer.on('upgrade', server.handleUpgrade);
  httpsServer.on('tlsClientError', (err) => out({ type: 'tlsError', error: String(err.message) }));
  httpsServer.listen(0, '127.0.0.1', () => out({ type: 'listening', port: httpsServer.address().port }));
} else {
  server.listen(0, '127.0.0.1').then((httpServer) => {
    out({ type: 'listening', port: httpServer.address().port });
  });
}
