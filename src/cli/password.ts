/** Reads a password: SNAPUP_PASSWORD, else a prompt without echo on a TTY, else stdin's first line. */
import { createInterface } from 'node:readline';
import { SnapupError } from '../errors.js';

export async function readPassword(prompt: string): Promise<string> {
  const fromEnv = process.env.SNAPUP_PASSWORD;
  if (fromEnv) return fromEnv;
  if (process.stdin.isTTY) return promptHidden(prompt);
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    if (line.length > 0) return line;
  }
  throw new SnapupError(
    'BAD_INPUT',
    'password: none given (type it at the prompt, pipe it on stdin, or set SNAPUP_PASSWORD)',
    {
      field: 'password',
    },
  );
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const output = rl as unknown as { _writeToOutput: (s: string) => void };
    process.stderr.write(prompt);
    // Echo nothing of what is typed.
    output._writeToOutput = () => {};
    rl.question('', (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}
