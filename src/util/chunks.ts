/** Joining an async source of text chunks (tests and small pages use the whole text). */

export async function collect(chunks: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const c of chunks) out += c;
  return out;
}
