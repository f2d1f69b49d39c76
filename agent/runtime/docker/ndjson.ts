// Newline-delimited JSON over a byte stream (the engine's /events and pull progress). Chunks may
// end in the middle of a line or of a multi-byte character, so bytes are decoded with a
// StringDecoder and only complete lines are parsed.
import { finished, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export class NdjsonDecoder {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor(
    private readonly onValue: (value: unknown) => void,
    private readonly onInvalidLine: (line: string, error: unknown) => void = () => {},
  ) {}

  push(chunk: Buffer | string): void {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let newline = this.pending.indexOf('\n');
    while (newline >= 0) {
      const line = this.pending.slice(0, newline);
      this.pending = this.pending.slice(newline + 1);
      this.parse(line);
      newline = this.pending.indexOf('\n');
    }
  }

  /** The stream ended: a last line without a trailing newline still counts. */
  end(): void {
    this.pending += this.decoder.end();
    const rest = this.pending;
    this.pending = '';
    this.parse(rest);
  }

  private parse(line: string): void {
    const trimmed = line.trim();
    if (trimmed === '') return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      this.onInvalidLine(trimmed, error);
      return;
    }
    this.onValue(value);
  }
}

/**
 * Feeds every JSON value of the stream to `onValue`; resolves when the stream ends cleanly,
 * rejects when it errors or closes early. If `onValue` throws, the stream is destroyed and the
 * promise rejects with that error.
 */
export function consumeNdjson(
  stream: Readable,
  onValue: (value: unknown) => void,
  onInvalidLine?: (line: string, error: unknown) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new NdjsonDecoder(onValue, onInvalidLine);
    stream.on('data', (chunk: Buffer | string) => {
      try {
        decoder.push(chunk);
      } catch (error) {
        stream.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    });
    finished(stream, (error) => {
      if (error) {
        reject(error);
        return;
      }
      try {
        decoder.end();
        resolve();
      } catch (endError) {
        reject(endError);
      }
    });
  });
}
