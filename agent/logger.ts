// One pino root logger per process; everything else gets children with context fields.
import pino from 'pino';
import type { Logger } from 'pino';
import type { LogFormat, LogLevel } from './config.ts';

export function createLogger(format: LogFormat, level: LogLevel): Logger {
  if (format === 'json') return pino({ level });
  return pino({
    level,
    transport: { target: 'pino-pretty', options: { colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true } },
  });
}
