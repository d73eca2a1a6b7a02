import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import yazl from 'yazl';
import { deviceFields, exportLine, PLATFORM_COUNT } from '../src/demo/export-line.js';
import { SeededRandom as Random } from '../src/demo/seeded-random.js';
import { encodeEventLine } from '../src/transform/event-line.js';
import { amplitudeEntryName } from '../src/extract/entry-names.js';

const EVENT_TYPES = ['page_view', 'button_click', 'session_start', 'purchase', 'add_to_cart', 'search', 'signup', 'video_play'];
const CITIES = [
  ['Berlin', 'Berlin', 'Germany'],
  ['San Francisco', 'California', 'United States'],
  ['São Paulo', 'São Paulo', 'Brazil'],
  ['Tokyo', 'Tokyo', 'Japan'],
  ['Zürich', 'Zurich', 'Switzerland'],
];

function timestamp(epochMicros: number): string {
  const iso = new Date(Math.floor(epochMicros / 1000)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${String(epochMicros % 1_000_000).padStart(6, '0')}`;
}

const USERS = 20_000;
// Each hour about 2,500 of them are active (ten events each), each for two hours or so about every
// twelve hours, as a product's users come and go.
const ACTIVE_USERS = 2_500;
const ACTIVE_SHIFT_PER_HOUR = 1_700;
const HALF_HOUR_MICROS = 1_800_000_000;

/** A user active in upload hour `hour`. */
function activeUser(random: Random, hour: number): number {
  return (hour * ACTIVE_SHIFT_PER_HOUR + random.int(ACTIVE_USERS)) % USERS;
}

/** One event line of realistic size and shape (about 1.3 KB; 3 % carry 1.5 KB more of user properties). */
function eventLine(random: Random, uploadMicros: number, user: number): string {
  const place = random.pick(CITIES);
  // A few events come from a second device of the user: anonymous (an id of its own, no user_id) or
  // logged in, so the anonymous id is merged into theirs.
  const roll = random.next();
  const secondDevice = roll < 0.08;
  const anonymous = roll < 0.04;
  const device = { ...deviceFields(random.int(PLATFORM_COUNT), user), ...(secondDevice ? { device_id: `device-${user}-b` } : {}) };
  const eventMicros = uploadMicros - random.int(600_000_000);
  // A user's events of one half hour share a session (5 % are in none); each user's half hours start
  // at their own minute, so sessions run across upload hours.
  const offset = (user % 30) * 60_000_000;
  const sessionId = Math.floor((eventMicros + offset) / HALF_HOUR_MICROS) * (HALF_HOUR_MICROS / 1000) - offset / 1000;
  const userProperties: Record<string, unknown> = {
    plan: random.pick(['free', 'pro', 'team', 'EMPTY']),
    cohort: `c${random.int(12)}`,
    initial_utm_source: random.pick(['google', 'newsletter', 'EMPTY']),
    seats: random.int(50),
  };
  if (random.next() < 0.03) {
    for (let i = 0; i < 40; i++) userProperties[`experiment_${i}`] = { variant: random.pick(['control', 'treatment']), n: random.int(1000) };
  }
  return exportLine({
    $insert_id: random.uuid(),
    amplitude_id: (anonymous ? 600_000_000_000 : 500_000_000_000) + user,
    app: 187520,
    city: place[0],
    client_event_time: timestamp(eventMicros),
    client_upload_time: timestamp(uploadMicros - 900_000),
    country: place[2],
    data_type: 'event',
    event_id: random.int(5000),
    event_properties: {
      path: `/products/${random.int(2000)}`,
      items: [{ sku: `SKU-${random.int(10_000)}`, price: random.int(10_000) / 100 }],
      ab: { hero: random.pick(['a', 'b']) },
    },
    event_time: timestamp(eventMicros),
    event_type: random.pick(EVENT_TYPES),
    ip_address: `203.0.113.${random.int(255)}`,
    is_attribution_event: false,
    language: random.pick(['English', 'German', 'Portuguese', 'Japanese']),
    location_lat: 52.52 + random.int(1000) / 1000,
    location_lng: 13.405 + random.int(1000) / 1000,
    os_version: String(14 + random.int(4)),
    paying: random.next() < 0.1 ? 'true' : null,
    processed_time: timestamp(uploadMicros + 2_000_000),
    region: place[1],
    server_received_time: timestamp(uploadMicros - 500_000),
    server_upload_time: timestamp(uploadMicros),
    session_id: random.next() < 0.05 ? -1 : sessionId,
    user_creation_time: timestamp(eventMicros - 86_400_000_000 * random.int(400)),
    user_id: !anonymous && random.next() < 0.7 ? `user-${user}` : null,
    user_properties: userProperties,
    uuid: random.uuid(),
    ...device,
    version_name: `5.${random.int(10)}.0`,
  });
}

export interface GeneratedExport {
  /** Upload hour (`YYYYMMDDTHH`) → path of its zip archive. */
  readonly archives: Map<string, string>;
  readonly events: number;
  readonly ndjsonBytes: number;
  /** Every line, for the ELT baseline's raw COPY. */
  readonly ndjsonPath: string;
  /** Every line as the loader's typed COPY rows (with their provenance), for the ceiling. */
  readonly typedRowsPath: string;
  readonly firstHour: string;
  readonly lastHour: string;
}

/**
 * Writes an export of `events` events spread over `hours` upload hours (from 2024-06-01T00),
 * streaming to disk so any size fits in bounded memory. About 2,500 of 20,000 users are active in an
 * hour, ten events each, in sessions of a half hour that run across hours; 4 % of events come from an
 * anonymous second device, 4 % from the same device logged in. About 1 % of events repeat an earlier
 * one by uuid and 1 % by insert_id (a new uuid), as re-sent and re-exported events do.
 */
export async function generateExport(directory: string, events: number, hours: number): Promise<GeneratedExport> {
  await mkdir(directory, { recursive: true });
  const random = new Random(0x5eed);
  const firstHourMicros = Date.UTC(2024, 5, 1) * 1000;
  const perHour = Math.ceil(events / hours);
  const ndjsonPath = join(directory, 'all.ndjson');
  const typedRowsPath = join(directory, 'typed-rows.copy');
  const ndjsonAll = createWriteStream(ndjsonPath);
  const typedRows = createWriteStream(typedRowsPath);
  const archives = new Map<string, string>();
  const recent: string[] = [];
  let written = 0;
  let ndjsonBytes = 0;
  const hourIso = (h: number) => new Date(firstHourMicros / 1000 + h * 3_600_000).toISOString();
  const label = (h: number) => {
    const iso = new Date(firstHourMicros / 1000 + h * 3_600_000).toISOString();
    return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}`;
  };

  for (let h = 0; h < hours && written < events; h++) {
    const count = Math.min(perHour, events - written);
    const partSize = 100_000;
    const partPaths: string[] = [];
    for (let part = 0; part * partSize < count; part++) {
      const inPart = Math.min(partSize, count - part * partSize);
      const path = join(directory, `${label(h)}-${part}.json.gz`);
      partPaths.push(path);
      async function* lines(): AsyncGenerator<string> {
        let batch = '';
        for (let i = 0; i < inPart; i++) {
          const uploadMicros = firstHourMicros + h * 3_600_000_000 + Math.floor(((part * partSize + i) / count) * 3_599_000_000);
          const roll = random.next();
          let line: string;
          if (roll < 0.01 && recent.length > 0) {
            line = random.pick(recent);
          } else if (roll < 0.02 && recent.length > 0) {
            const earlier = JSON.parse(random.pick(recent)) as Record<string, unknown>;
            line = JSON.stringify({ ...earlier, uuid: random.uuid(), server_upload_time: timestamp(uploadMicros) });
          } else {
            line = eventLine(random, uploadMicros, activeUser(random, h));
          }
          if (recent.length < 2000) recent.push(line);
          else recent[random.int(2000)] = line;
          ndjsonBytes += Buffer.byteLength(line) + 1;
          const encoded = encodeEventLine(line);
          if (!encoded.ok) throw new Error(`the generator wrote a line the loader rejects: ${encoded.reason}`);
          // The loader's own row: the event's columns, then its upload hour, entry and line.
          if (!typedRows.write(`${encoded.copyColumns}\tdefault\t${hourIso(h)}\t${hourIso(h)}\t${part + 1}\t${i + 1}\n`)) await once(typedRows, 'drain');
          if (!ndjsonAll.write(`${line}\n`)) await once(ndjsonAll, 'drain');
          batch += `${line}\n`;
          if (batch.length > 1 << 20) {
            yield batch;
            batch = '';
          }
        }
        if (batch) yield batch;
      }
      await pipeline(Readable.from(lines()), createGzip({ level: 6 }), createWriteStream(path));
    }
    written += count;
    const zip = new yazl.ZipFile();
    zip.addEmptyDirectory('187520/');
    partPaths.forEach((path, part) => zip.addFile(path, amplitudeEntryName(187520, label(h), part), { compress: false }));
    zip.end();
    const zipPath = join(directory, `${label(h)}.zip`);
    await pipeline(zip.outputStream, createWriteStream(zipPath));
    archives.set(label(h), zipPath);
  }
  await Promise.all([new Promise<void>((resolve) => ndjsonAll.end(resolve)), new Promise<void>((resolve) => typedRows.end(resolve))]);
  const labels = [...archives.keys()];
  return { archives, events: written, ndjsonBytes, ndjsonPath, typedRowsPath, firstHour: labels[0] as string, lastHour: labels[labels.length - 1] as string };
}
