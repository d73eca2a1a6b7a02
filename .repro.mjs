import net from 'node:net';
import { ExportClient } from '/work/main/dist/src/extract/export-client.js';
import { hourArchive } from '/work/main/dist/src/demo/export-archive.js';
const crypto = await import('node:crypto');
const lines = Array.from({length: 3000}, (_, i) => JSON.stringify({uuid: '6f1c2a4e-9b7d-4c1e-8a2b-' + String(i).padStart(12,'0'), event_time: '2024-03-01 05:00:00', pad: crypto.randomBytes(150).toString('hex')})).join('\n');
const zip = await hourArchive('20240301T05', [lines]);
console.log('zip bytes', zip.length);
const server = net.createServer((socket) => {
  socket.once('data', () => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nConnection: close\r\n\r\n');
    socket.end(zip);
  });
}).listen(0, '127.0.0.1');
await new Promise(r => server.once('listening', r));
const client = new ExportClient({ exportUrl: `http://127.0.0.1:${server.address().port}/api/2/export`, apiKey: 'a', secretKey: 'b', tempDir: '/tmp', maxArchiveBytes: 1e9 });
const r = await client.downloadHour(473000, new AbortController().signal);
console.log(r);
server.close(); await client.close();
