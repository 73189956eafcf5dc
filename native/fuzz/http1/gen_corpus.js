// Captures real HTTP/1 traffic into native/fuzz/http1/corpus/ so the fuzzer starts from what
// peers send: requests from curl, wget, Python and Node's http/fetch (undici) clients, and
// responses from Node's http server and Python's http.server. Every port is bound to 0.
// Usage: node native/fuzz/http1/gen_corpus.js   (needs curl, wget, python3 on PATH)
//
// Each seed starts with one mode byte the fuzz target reads: bit 0 = response, bits 1-4 =
// the request method the response answers (enum xm_http1_method: 1 GET, 2 HEAD, 6 CONNECT).
'use strict';
const fs = require('fs');
const path = require('path');
const net = require('net');
const http = require('http');
const { execFile, spawn } = require('child_process');

const out = path.join(__dirname, 'corpus');
const M = { GET: 1, HEAD: 2, POST: 3, CONNECT: 6 };

function write(name, mode, buf) {
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, name), Buffer.concat([Buffer.from([mode]), buf]));
}

function run(cmd, args, input) {
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { timeout: 5000 }, () => resolve());
    if (input !== undefined) p.stdin.end(input);
  });
}

// A server that records what one client sends, answering once the client goes quiet.
function captureRequest(client, answer = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok') {
  return new Promise((resolve) => {
    const chunks = [];
    const srv = net.createServer((s) => {
      let timer;
      const quiet = () => {
        clearTimeout(timer);
        timer = setTimeout(() => s.end(answer), 250);
      };
      let continued = false;
      s.on('data', (d) => {
        chunks.push(d);
        if (!continued && /expect: 100-continue/i.test(Buffer.concat(chunks).toString('latin1'))) {
          continued = true;
          s.write('HTTP/1.1 100 Continue\r\n\r\n'); // so the client sends its body
        }
        quiet();
      });
      s.on('error', () => {});
      s.on('close', () => { clearTimeout(timer); srv.close(); });
    });
    srv.listen(0, '127.0.0.1', async () => {
      const url = `http://127.0.0.1:${srv.address().port}`;
      await client(url, srv.address().port);
      setTimeout(() => { srv.close(); resolve(Buffer.concat(chunks)); }, 300);
    });
  });
}

// Send raw request bytes to a server and record everything it answers until it goes quiet.
function captureResponse(port, request, quietMs = 300) {
  return new Promise((resolve) => {
    const chunks = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let timer = setTimeout(() => s.destroy(), 2000);
    s.on('data', (d) => {
      chunks.push(d);
      clearTimeout(timer);
      timer = setTimeout(() => s.destroy(), quietMs);
    });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
  });
}

async function requests() {
  const big = 'x'.repeat(3000);
  const seeds = [
    ['curl_get', (u) => run('curl', ['-s', `${u}/index.html?q=1&lang=en`])],
    ['curl_post_form', (u) => run('curl', ['-s', '-d', 'user=alice&pass=s3cret', `${u}/login`])],
    ['curl_post_chunked', (u) => run('curl', ['-s', '-H', 'Transfer-Encoding: chunked', '--data-binary', '@-', `${u}/upload`], big)],
    ['curl_expect', (u) => run('curl', ['-s', '-H', 'Expect: 100-continue', '--data-binary', '@-', `${u}/put`], 'payload')],
    ['curl_http10', (u) => run('curl', ['-s', '-0', `${u}/old`])],
    ['curl_head', (u) => run('curl', ['-s', '-I', `${u}/`])],
    ['curl_options_star', (u) => run('curl', ['-s', '-X', 'OPTIONS', '--request-target', '*', `${u}/`])],
    ['curl_proxy_absolute', (u) => run('curl', ['-s', '-x', u, 'http://svc.example/api/v1/items?page=2'])],
    ['curl_headers', (u) => run('curl', ['-s', ...Array.from({ length: 12 }, (_, i) => ['-H', `X-Trace-${i}: ${i}-abc`]).flat(),
      '-H', 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x', '-H', 'Cookie: a=1; b=2', `${u}/h`])],
    ['wget_get', (u) => run('wget', ['-q', '-O', '/dev/null', '--tries=1', `${u}/file.tar.gz`])],
    ['python_urllib', (u) => run('python3', ['-c', `import urllib.request;urllib.request.urlopen('${u}/py').read()`])],
    ['python_httpclient_post', (u) => run('python3', ['-c',
      `import http.client,json;c=http.client.HTTPConnection('${u.slice(7)}');` +
      `c.request('POST','/json',body=json.dumps({'a':[1,2,3]}),headers={'Content-Type':'application/json'});c.getresponse().read()`])],
    ['node_fetch_post', (u) => fetch(`${u}/api`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'world' }) }).then((r) => r.text()).catch(() => {})],
    ['node_http_chunked_trailers', (u) => new Promise((resolve) => {
      const rq = http.request(`${u}/stream`, { method: 'PUT', headers: { Trailer: 'X-Checksum' } }, (r) => { r.resume(); r.on('end', resolve); });
      rq.on('error', resolve);
      rq.write('first chunk;');
      rq.write('second chunk');
      rq.addTrailers({ 'X-Checksum': 'abc123' });
      rq.end();
    })],
    ['node_http_upgrade', (u) => new Promise((resolve) => {
      const rq = http.request(`${u}/chat`, { headers: { Connection: 'Upgrade', Upgrade: 'websocket',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' } });
      rq.on('error', resolve);
      rq.on('response', (r) => { r.resume(); r.on('end', resolve); });
      rq.on('upgrade', (r, s) => { s.destroy(); resolve(); });
      rq.end();
    })],
  ];
  for (const [name, client] of seeds) {
    const buf = await captureRequest(client);
    if (buf.length) write(`rq_${name}`, 0, buf);
    else console.error(`no bytes captured for ${name}`);
  }
  // CONNECT through the proxy, then the request curl sends into the tunnel
  const tunnel = await captureRequest((u) => run('curl', ['-s', '-p', '-x', u, 'http://svc.example:8080/inside']),
    'HTTP/1.1 200 Connection established\r\n\r\n');
  write('rq_curl_connect_tunnel', 0, tunnel);
  // pipelined: two real requests back to back
  const a = await captureRequest((u) => run('curl', ['-s', `${u}/one`]));
  const b = await captureRequest((u) => fetch(`${u}/two`, { method: 'POST', body: 'abc' }).then((r) => r.text()).catch(() => {}));
  write('rq_pipeline_curl_fetch', 0, Buffer.concat([a, b]));
}

async function responses() {
  const srv = http.createServer((req, res) => {
    switch (req.url) {
      case '/cl': res.end('hello world'); break;
      case '/chunked': res.write('part one;'); res.end('part two'); break;
      case '/trailers':
        res.writeHead(200, { 'Content-Type': 'application/grpc', Trailer: 'grpc-status' });
        res.write('\0\0\0\0\x05hello');
        res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'OK' });
        res.end();
        break;
      case '/204': res.writeHead(204); res.end(); break;
      case '/304': res.writeHead(304, { ETag: '"abc"' }); res.end(); break;
      case '/404': res.writeHead(404, { 'Content-Type': 'text/plain', Connection: 'close' }); res.end('not found'); break;
      default: res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; HttpOnly']); res.end('default');
    }
  });
  srv.on('checkContinue', (req, res) => { res.writeContinue(); req.resume(); req.on('end', () => res.end('continued')); });
  srv.on('upgrade', (req, s) => {
    s.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05hello');
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const port = srv.address().port;
  const get = (p, extra = '') => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
  const seeds = [
    ['node_cl', M.GET, get('/cl')],
    ['node_chunked', M.GET, get('/chunked')],
    ['node_trailers', M.GET, get('/trailers', 'TE: trailers\r\n')],
    ['node_204', M.GET, get('/204')],
    ['node_304', M.GET, get('/304', 'If-None-Match: "abc"\r\n')],
    ['node_404_close', M.GET, get('/404')],
    ['node_head', M.HEAD, `HEAD /cl HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`],
    ['node_keepalive_pair', M.GET, get('/cl') + get('/chunked')],
    ['node_100_continue', M.POST, `POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc`],
    ['node_101_upgrade', M.GET, get('/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n')],
  ];
  for (const [name, method, rq] of seeds) write(`rs_${name}`, 1 | (method << 1), await captureResponse(port, rq));
  srv.close();

  // Python's http.server: HTTP/1.0, and a handler that sends no length (close-delimited)
  const py = spawn('python3', ['-c', `
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        if self.path == '/len':
            self.send_header('Content-Length', '5')
        self.end_headers()
        self.wfile.write(b'hello, until the server closes' if self.path != '/len' else b'hello')
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
`]);
  const pyPort = await new Promise((r) => py.stdout.once('data', (d) => r(Number(String(d).trim()))));
  write('rs_python_close', 1 | (M.GET << 1), await captureResponse(pyPort, get('/')));
  write('rs_python_len', 1 | (M.GET << 1), await captureResponse(pyPort, get('/len')));
  py.kill();
}

(async () => {
  await requests();
  await responses();
  console.log(`seeds in ${out}: ${fs.readdirSync(out).length}`);
})();
