// Reads an agent's JSON log file as it grows: each read returns the records appended since the
// last one. The agent writes it (through AgentProcess's logFile), the benchmark only reads, so
// following the log costs the agent nothing, unlike scraping /metrics in a tight loop.
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

export interface LogRecord {
  /** Epoch ms (pino's `time`). */
  time: number;
  msg: string;
  [field: string]: unknown;
}

export class LogFollower {
  private offset = 0;
  private partial = '';
  /** A read may end inside a multi-byte character; the decoder keeps its first bytes. */
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly file: string) {}

  async read(): Promise<LogRecord[]> {
    const handle = await open(this.file, 'r');
    let text: string;
    try {
      const { size } = await handle.stat();
      if (size <= this.offset) return [];
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      text = this.partial + this.decoder.write(buffer.subarray(0, bytesRead));
    } finally {
      await handle.close();
    }
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    const records: LogRecord[] = [];
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        records.push(JSON.parse(line) as LogRecord);
      } catch {
        // Not one of the agent's JSON lines (a Node warning): not ours to read.
      }
    }
    return records;
  }
}
