/** An OpenSSH public key line's parts, checked: `<type> <base64 blob> [comment]`, the blob naming the same type. */
export function parsePublicKeyLine(line: string): { type: string; blob: Buffer; comment: string } {
  const [type, b64, ...rest] = line.split(' ');
  if (!type || !b64) throw new Error(`not a public key line: ${line}`);
  const blob = Buffer.from(b64, 'base64');
  const named = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1');
  if (named !== type) throw new Error(`the blob is a ${named} key, the line says ${type}`);
  return { type, blob, comment: rest.join(' ') };
}
