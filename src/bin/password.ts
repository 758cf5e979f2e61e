// Passwords for `xcpnet serve` and `xcpnet user-add` come from a file, standard input or the
// environment: never from the command line, which every user of the machine sees in `ps`.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';

/** The first line of FILE; `-` reads standard input, without echo when it is a terminal. */
export async function readPasswordFile(file: string, prompt = 'Password: '): Promise<string> {
  let text: string;
  if (file !== '-') text = readFileSync(file, 'utf8');
  else if (process.stdin.isTTY) text = await promptHidden(prompt);
  else {
    text = '';
    for await (const chunk of process.stdin) text += String(chunk);
  }
  const password = text.split(/\r?\n/)[0]!;
  if (password === '') throw new Error(`no password in ${file === '-' ? 'standard input' : file} (its first line is empty)`);
  return password;
}

/** Reads one line from the terminal with echo off (readline echoes into a sink). */
async function promptHidden(prompt: string): Promise<string> {
  // node:readline only for a prompt: `serve` and the others do not pay for it at start.
  const { createInterface } = await import('node:readline');
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  const rl = createInterface({ input: process.stdin, output: sink, terminal: true });
  // Only now: the terminal is in raw mode (no echo) before anyone answers the prompt.
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    // Settle first: close() emits 'close' at once.
    rl.once('line', (line) => { resolve(line); rl.close(); });
    rl.once('SIGINT', () => { reject(new Error('interrupted')); rl.close(); });
    rl.once('close', () => { process.stderr.write('\n'); resolve(''); });
  });
}

/** The message for a password given on the command line. */
export function notOnCommandLine(what: string, ways: string): string {
  return `${what} is not taken on the command line, where ps shows it to every user of the machine; ${ways}`;
}
