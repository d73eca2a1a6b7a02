import assert from 'node:assert/strict';
import { test } from 'node:test';
import { amplitudeEntryName, hourOfPartName } from '../../src/extract/entry-names.js';
import { formatHour } from '../../src/hour.js';

test('Amplitude names a part by project, UTC date and the hour not zero-padded, and the name gives the hour back', () => {
  assert.equal(amplitudeEntryName(187520, '20240301T05', 0), '187520/187520_2024-03-01_5#0.json.gz');
  assert.equal(amplitudeEntryName(187520, '20241231T23', 12), '187520/187520_2024-12-31_23#12.json.gz');
  for (const label of ['20240301T00', '20240301T05', '20240229T23', '20231231T10']) {
    const hour = hourOfPartName(amplitudeEntryName(1, label, 3));
    assert.equal(hour === undefined ? undefined : formatHour(hour), label);
  }
  // The S3 export's loose files carry no folder; plain .json parts count too.
  const loose = hourOfPartName('187520_2024-03-01_7#0.json');
  assert.equal(loose === undefined ? undefined : formatHour(loose), '20240301T07');
});

test('names that carry no real hour are not parts', () => {
  for (const name of ['187520_2024-02-30_5#0.json.gz', '187520_2024-03-01_24#0.json.gz', '187520_2024-03-01_5.json.gz', 'notes.txt', '187520/']) {
    assert.equal(hourOfPartName(name), undefined, name);
  }
});
