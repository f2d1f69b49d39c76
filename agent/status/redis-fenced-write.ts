// A batch of status writes that Redis itself refuses unless the writer's fencing token is the one
// the lease holds now: one Lua script compares the token with the lease's holder-token key
// (agent/leader/redis-lock.ts) and writes the hash only if they match, atomically against any
// acquisition. A leader frozen past its lease (SIGSTOP) that resumes and flushes what it had
// pending is refused here even if its process has not yet noticed it lost the lease.
//
// Every batch, written or refused, appends one entry to a capped stream beside the hash
// (`<hash>:writes`): result, token, the holder's token as the script saw it, writer, counts. Its IDs
// are Redis' own clock and order, so it is the audit trail of who wrote status when.
import type { Redis } from 'ioredis';

/** Entries kept in a write log (approximately: XADD MAXLEN ~). */
export const WRITE_LOG_MAX_LENGTH = 10_000;
/** Fields per HSET/HDEL inside the script (Lua's unpack has a stack limit). */
const FIELDS_PER_CALL = 500;

// KEYS: hash, lease holder-token key, write log. ARGV: token, number of set pairs, writer, then the
// pairs (field, value), then the fields to delete.
const FENCED_WRITE = `
local current = redis.call('GET', KEYS[2])
local pairs_count = tonumber(ARGV[2])
local first_del = 4 + 2 * pairs_count
local dels = #ARGV - first_del + 1
if current ~= ARGV[1] then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV_MAX, '*', 'result', 'fenced', 'token', ARGV[1], 'holderToken', current or '', 'writer', ARGV[3], 'sets', pairs_count, 'dels', dels)
  return current or ''
end
for i = 4, first_del - 1, 2 * CHUNK do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 2 * CHUNK - 1, first_del - 1)))
end
for i = first_del, #ARGV, CHUNK do
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, math.min(i + CHUNK - 1, #ARGV)))
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV_MAX, '*', 'result', 'written', 'token', ARGV[1], 'holderToken', current, 'writer', ARGV[3], 'sets', pairs_count, 'dels', dels)
return 1
`
  .replaceAll('ARGV_MAX', `'${WRITE_LOG_MAX_LENGTH}'`)
  .replaceAll('CHUNK', String(FIELDS_PER_CALL));

export interface FencedHashKeys {
  hash: string;
  /** The lease's `<key>:holder-token` (RedisLeaseLock). */
  holderTokenKey: string;
}

export type FencedWriteResult = { written: true } | { written: false; holderToken: string };

/** The write log of a status hash. */
export function writeLogKey(hash: string): string {
  return `${hash}:writes`;
}

/** Sets `sets` (field, JSON pairs) and deletes `dels` in `keys.hash`, only while the lease holds `token`. */
export async function fencedHashWrite(
  redis: Pick<Redis, 'eval'>,
  keys: FencedHashKeys,
  token: number,
  writer: string,
  sets: readonly string[],
  dels: readonly string[],
): Promise<FencedWriteResult> {
  const reply = await redis.eval(FENCED_WRITE, 3, keys.hash, keys.holderTokenKey, writeLogKey(keys.hash), String(token), String(sets.length / 2), writer, ...sets, ...dels);
  if (reply === 1) return { written: true };
  return { written: false, holderToken: typeof reply === 'string' ? reply : String(reply) };
}

/** One entry of a write log, parsed (tests and audits). */
export interface WriteLogEntry {
  /** Stream ID: Redis' milliseconds and a sequence, strictly increasing. */
  id: string;
  atMs: number;
  result: 'written' | 'fenced';
  token: number;
  holderToken: string;
  writer: string;
  sets: number;
  dels: number;
}

/** The whole write log of `hash`, oldest first. */
export async function readWriteLog(redis: Pick<Redis, 'xrange'>, hash: string): Promise<WriteLogEntry[]> {
  const raw = await redis.xrange(writeLogKey(hash), '-', '+');
  return raw.map(([id, flat]) => {
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
    return {
      id,
      atMs: Number(id.split('-')[0]),
      result: fields.get('result') === 'written' ? 'written' : 'fenced',
      token: Number(fields.get('token')),
      holderToken: fields.get('holderToken') ?? '',
      writer: fields.get('writer') ?? '',
      sets: Number(fields.get('sets')),
      dels: Number(fields.get('dels')),
    };
  });
}
