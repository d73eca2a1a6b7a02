import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyDatabaseError } from '../src/errors.js';

function serverError(code: string): Error {
  return Object.assign(new Error(`server said ${code}`), { code, severity: 'ERROR' });
}

test('server errors are classified by SQLSTATE', () => {
  for (const code of ['57P01', '57P03', '08006', '40001', '40P01', '53300', '55P03']) {
    assert.equal(classifyDatabaseError(serverError(code), { doing: 'x' }).retryable, true, code);
  }
  for (const code of ['23505', '22P02', '42P01', '42703', '54000']) {
    assert.equal(classifyDatabaseError(serverError(code), { doing: 'x' }).retryable, false, code);
  }
  assert.match(classifyDatabaseError(serverError('57P01'), { hour: '20240301T05', doing: 'loading' }).message, /^hour 20240301T05: loading failed \(SQLSTATE 57P01\)/);
});

test('socket errors are retried and never mistaken for a SQLSTATE; defects are not retried', () => {
  const epipe = classifyDatabaseError(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }), { doing: 'x' });
  assert.equal(epipe.retryable, true);
  assert.doesNotMatch(epipe.message, /SQLSTATE/);
  assert.equal(epipe.message, 'x failed: the connection to PostgreSQL was lost: write EPIPE');
  assert.equal(classifyDatabaseError(new Error('Connection terminated unexpectedly'), { doing: 'x' }).retryable, true);
  assert.equal(classifyDatabaseError(new TypeError('x is undefined'), { doing: 'x' }).retryable, false);
});
