import { execa } from 'execa';

/** Test keyrings each start a gpg-agent; stop them all when the run ends. */
export default function setup() {
  return async () => {
    await execa('pkill', ['-f', 'gpg-agent --homedir /tmp/gnupg-'], { reject: false });
  };
}
