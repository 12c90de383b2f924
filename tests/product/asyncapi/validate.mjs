// Validate an AsyncAPI document with @asyncapi/parser (the AsyncAPI Initiative's parser, Spectral rules).
// Usage: node validate.mjs FILE  -> one line per diagnostic "severity path: message", then a summary line;
// exit 0 when there is no error (severity 0), 1 otherwise.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const file = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'), { source: file });
const names = ['error', 'warning', 'info', 'hint'];
const counts = [0, 0, 0, 0];
for (const d of diagnostics) {
  counts[d.severity] += 1;
  console.log(`${names[d.severity]} ${d.path.join('.')}: ${d.message} [${d.code}]`);
}
console.log(`asyncapi-parser: ${counts[0]} error(s), ${counts[1]} warning(s), ${counts[2]} info, ${counts[3]} hint(s); ` +
  `document ${document ? 'parsed' : 'NOT parsed'}; channels ${document ? document.channels().length : 0}, ` +
  `operations ${document ? document.operations().length : 0}, messages ${document ? document.components().messages().length : 0}`);
process.exit(counts[0] === 0 && document ? 0 : 1);
