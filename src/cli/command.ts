// The shape of an xe command: data (name, parameters, help) plus a `run` function.
import type { Caller } from './fields.js';

export interface Env {
  params: Map<string, string>;
  /** Bare words after the command (help uses them). */
  words: string[];
  /** Connects (and logs in) on first use. */
  client(): Promise<Caller>;
  /** Appends to stdout. */
  out(text: string): void;
}

export interface Command {
  name: string;
  reqd: string[];
  optn: string[];
  help: string;
  /** Left out of `xe help` (still listed by `xe help --all`). */
  hidden?: boolean;
  run(env: Env): Promise<void>;
}

/** The value of a required parameter (presence is checked before `run`). */
export function req(env: Env, name: string): string {
  return env.params.get(name) ?? '';
}

export function opt(env: Env, name: string, dflt: string): string {
  return env.params.get(name) ?? dflt;
}
