import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXPORT_URLS, loaderConfig, transformThreads } from '../src/config.js';

const keys = { AMPLITUDE_API_KEY: 'k', AMPLITUDE_SECRET_KEY: 's' };

test('the region picks the endpoint; AMPLITUDE_EXPORT_URL replaces it; flags win over variables', () => {
  assert.equal(loaderConfig({ range: '20240301' }, keys).exportUrl, EXPORT_URLS.us);
  assert.equal(loaderConfig({ range: '20240301' }, { ...keys, AMPLITUDE_REGION: 'EU' }).exportUrl, 'https://analytics.eu.amplitude.com/api/2/export');
  assert.equal(loaderConfig({ range: '20240301', region: 'us' }, { ...keys, AMPLITUDE_REGION: 'eu' }).exportUrl, EXPORT_URLS.us);
  assert.equal(
    loaderConfig({ range: '20240301' }, { ...keys, AMPLITUDE_REGION: 'eu', AMPLITUDE_EXPORT_URL: 'http://127.0.0.1:9/x' }).exportUrl,
    'http://127.0.0.1:9/x',
  );
  assert.equal(loaderConfig({ range: '20240301', 'api-key': 'flag' }, keys).apiKey, 'flag');
});

test('defaults: concurrency 4, retries 5, a 7-day insert_id window, schema amplitude', () => {
  const config = loaderConfig({ range: '20240301' }, keys);
  assert.equal(config.concurrency, 4);
  assert.equal(config.retries, 5);
  assert.equal(config.insertIdWindowDays, 7);
  assert.equal(config.database.schema, 'amplitude');
  assert.equal(config.database.connectionString, undefined);
  assert.equal(config.reload, false);
});

test('settings out of range are refused', () => {
  assert.throws(() => loaderConfig({ range: '20240301', 'insert-id-window': '-1' }, keys), /insert-id-window/);
  assert.throws(() => loaderConfig({ range: '20240301', schema: 'bad-name' }, keys), /--schema/);
  assert.throws(() => loaderConfig({ range: '20240301', 'export-url': 'ftp://x' }, keys), /http or https/);
  assert.throws(() => loaderConfig({ range: '20240301', 'export-url': 'https://k:s@example.com/' }, keys), /must not carry credentials/);
  assert.throws(() => loaderConfig({ range: '20240301', concurrency: '0' }, keys), /--concurrency/);
  assert.throws(() => loaderConfig({ range: '20240301', 'transform-threads': '-1' }, keys), /--transform-threads must be a whole number from 0 to 32/);
});

test('the transform gets threads only on cores two cannot spare: one per hour in flight, a core left over', () => {
  assert.equal(transformThreads(undefined, 4, 1), 0);
  assert.equal(transformThreads(undefined, 4, 2), 0);
  assert.equal(transformThreads(undefined, 4, 3), 2);
  assert.equal(transformThreads(undefined, 4, 16), 4);
  assert.equal(transformThreads(undefined, 1, 16), 1);
  assert.equal(transformThreads('0', 4, 16), 0);
  assert.equal(transformThreads('6', 4, 2), 6);
});
