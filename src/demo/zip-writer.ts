import { crc32, gzipSync } from 'node:zlib';

/**
 * A zip archive of stored (uncompressed) entries, as Amplitude's exports are: enough to serve the
 * demo's archives without a zip library at run time.
 */
export function storedZip(files: readonly { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const file of files) {
    const name = Buffer.from(file.name, 'utf8');
    const crc = crc32(file.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(file.data.length, 18);
    local.writeUInt32LE(file.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(file.data.length, 20);
    header.writeUInt32LE(file.data.length, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt32LE(offset, 42);
    locals.push(local, name, file.data);
    central.push(header, name);
    offset += local.length + name.length + file.data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** One hour's archive in Amplitude's layout: `<project>/<project>_<date>_<hour>#0.json.gz`. */
export function hourZip(projectId: number, hourLabel: string, ndjson: string): Buffer {
  const date = `${hourLabel.slice(0, 4)}-${hourLabel.slice(4, 6)}-${hourLabel.slice(6, 8)}`;
  return storedZip([{ name: `${projectId}/${projectId}_${date}_${Number(hourLabel.slice(9, 11))}#0.json.gz`, data: gzipSync(ndjson) }]);
}
