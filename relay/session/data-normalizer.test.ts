import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataNormalizer } from './data-normalizer.ts';
import type { BareLineFeedMode, NormalizerOptions } from './data-normalizer.ts';

// performance-security-anchors.md 3.2: inbound and outbound fake terminators, plus the two
// CRLF-led halves the brief names.
const SMUGGLING = ['\n.\n', '\n.\r', '\r.\n', '\r.\r', '\n.\r\n', '\r.\r\n', '\r\n\x00.\r\n', '\r\n.\r\r\n', '\r\r\n.\r\r\n', '\r\n.\n', '\r\n.\r'];
const SMUGGLED = 'MAIL FROM:<attacker@evil.example>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nFrom: ceo@contoso.com\r\n\r\nevil\r\n';

/** Byte-by-byte reference: drop NUL, then every CR, LF or CRLF becomes CRLF. */
function reference(input: Buffer): { out: Buffer; bareLF: number; bareCR: number; nul: number } {
  const bytes = [...input].filter((b) => b !== 0);
  const out: number[] = [];
  let bareLF = 0;
  let bareCR = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0d) {
      if (bytes[i + 1] === 0x0a) i++;
      else bareCR++;
      out.push(0x0d, 0x0a);
    } else if (b === 0x0a) {
      bareLF++;
      out.push(0x0d, 0x0a);
    } else out.push(b as number);
  }
  return { out: Buffer.from(out), bareLF, bareCR, nul: input.length - bytes.length };
}

interface Run {
  headers: Buffer | null;
  body: Buffer;
  n: DataNormalizer;
}

function run(chunks: Buffer[], options: Partial<NormalizerOptions> = {}): Run {
  const n = new DataNormalizer({ bareLineFeeds: 'Normalize', maxHeaderSize: 0, ...options });
  let headers: Buffer | null = null;
  const body: Buffer[] = [];
  const take = (o: { headers: Buffer | null; body: Buffer | null }) => {
    if (o.headers) {
      assert.equal(headers, null, 'headers emitted twice');
      headers = o.headers;
    }
    if (o.body) {
      assert.notEqual(headers, null, 'body before headers');
      body.push(o.body);
    }
  };
  for (const c of chunks) take(n.push(c));
  take(n.end());
  return { headers, body: Buffer.concat(body), n };
}

const splitAt = (buf: Buffer, ...cuts: number[]): Buffer[] => {
  const points = [0, ...cuts, buf.length];
  return points.slice(1).map((p, i) => buf.subarray(points[i], p));
};

// eslint-disable-next-line no-control-regex
const STRAY = /\r(?!\n)|(?<!\r)\n|\x00/;

function checkAgainstReference(input: Buffer, chunks: Buffer[], mode: BareLineFeedMode): void {
  const ref = reference(input);
  const r = run(chunks, { bareLineFeeds: mode });
  const all = Buffer.concat([r.headers ?? Buffer.alloc(0), r.body]);
  assert.deepEqual(all, ref.out);
  assert.doesNotMatch(all.toString('latin1'), STRAY);
  assert.equal(r.n.bytesIn, input.length);
  assert.equal(r.n.bytesOut, ref.out.length);
  assert.deepEqual({ ...r.n.violations }, { bareLF: ref.bareLF, bareCR: ref.bareCR, NUL: ref.nul });
  const refText = ref.out.toString('latin1');
  const blank = refText.indexOf('\r\n\r\n');
  const expectedHeaders = refText.startsWith('\r\n') ? '\r\n' : blank === -1 ? refText : refText.slice(0, blank + 4);
  assert.equal(r.headers?.toString('latin1'), expectedHeaders);
  assert.equal(r.n.rejected, mode === 'Reject' && ref.bareLF + ref.bareCR + ref.nul > 0);
}

for (const seq of SMUGGLING) {
  const name = JSON.stringify(seq);
  const inBody = Buffer.from(`Subject: t\r\nFrom: a@example.org\r\n\r\nhello${seq}${SMUGGLED}`, 'latin1');
  const inHeaders = Buffer.from(`Subject: t${seq}Received: forged\r\n\r\nbody\r\n`, 'latin1');

  test(`smuggling ${name}: every single chunk boundary, both modes`, () => {
    for (const input of [inBody, inHeaders]) {
      for (let i = 0; i <= input.length; i++) {
        checkAgainstReference(input, splitAt(input, i), 'Normalize');
        checkAgainstReference(input, splitAt(input, i), 'Reject');
      }
    }
  });

  test(`smuggling ${name}: every pair of boundaries around the sequence, and 1-byte chunks`, () => {
    const at = inBody.indexOf(seq.startsWith('\r\n') ? seq.slice(2) : seq, 30);
    for (let i = at - 3; i <= at + seq.length + 3; i++) {
      for (let j = i; j <= at + seq.length + 3; j++) checkAgainstReference(inBody, splitAt(inBody, i, j), 'Normalize');
    }
    checkAgainstReference(inBody, [...inBody].map((b) => Buffer.from([b])), 'Normalize');
    const r = run([inBody], { bareLineFeeds: 'Reject' });
    assert.ok(r.n.rejected, 'Reject mode must flag it');
  });
}

test('clean CRLF input passes through without copies and without violations', () => {
  const head = Buffer.from('Subject: x\r\n\r\n');
  const chunk = Buffer.from('line one\r\nline two\r\n');
  const n = new DataNormalizer({ bareLineFeeds: 'Reject', maxHeaderSize: 1000 });
  assert.deepEqual(n.push(head), { headers: head, body: null });
  assert.equal(n.push(chunk).body, chunk);
  assert.deepEqual(n.end(), { headers: null, body: null });
  assert.equal(n.rejected, false);
  assert.equal(n.firstViolation, null);
  assert.equal(n.bytesOut, head.length + chunk.length);
});

test('CR at the end of one chunk and LF at the start of the next is one CRLF', () => {
  const r = run([Buffer.from('A: b\r'), Buffer.from('\n\r'), Buffer.from('\nbody\r'), Buffer.from('\n')], { bareLineFeeds: 'Reject' });
  assert.equal(r.headers?.toString(), 'A: b\r\n\r\n');
  assert.equal(r.body.toString(), 'body\r\n');
  assert.equal(r.n.rejected, false);
});

test('a stream ending on a bare CR gets its LF', () => {
  const r = run([Buffer.from('A: b\r\n\r\nbody\r')]);
  assert.equal(r.body.toString(), 'body\r\n');
  assert.equal(r.n.violations.bareCR, 1);
  assert.equal(r.n.firstViolation, 'bareCR');
});

test('NUL next to CR/LF: NUL is dropped first, then line ends are judged', () => {
  const r = run([Buffer.from('A: b\r\x00\n\r\n\x00\x00')]);
  assert.equal(r.headers?.toString(), 'A: b\r\n\r\n');
  assert.deepEqual({ ...r.n.violations }, { bareLF: 0, bareCR: 0, NUL: 3 });
  assert.equal(r.n.firstViolation, 'NUL');
});

test('a chunk of only NULs yields nothing', () => {
  const r = run([Buffer.from('A: b\r'), Buffer.from([0, 0]), Buffer.from('\n\r\nx\r\n')]);
  assert.equal(r.headers?.toString(), 'A: b\r\n\r\n');
  assert.equal(r.body.toString(), 'x\r\n');
});

test('header split: message starting with an empty line, and message without one', () => {
  const empty = run([Buffer.from('\r\nbody\r\n')]);
  assert.equal(empty.headers?.toString(), '\r\n');
  assert.equal(empty.body.toString(), 'body\r\n');
  const noBody = run([Buffer.from('A: b\r\n'), Buffer.from('C: d\r\n')]);
  assert.equal(noBody.headers?.toString(), 'A: b\r\nC: d\r\n');
  assert.equal(noBody.body.length, 0);
  const nothing = run([]);
  assert.equal(nothing.headers?.length, 0);
});

test('header split: the empty line straddling chunks at every position', () => {
  const input = Buffer.from('Subject: x\r\nTo: y\r\n\r\nbody line\r\n');
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) {
      const r = run(splitAt(input, i, j));
      assert.equal(r.headers?.toString(), 'Subject: x\r\nTo: y\r\n\r\n', `cuts ${i},${j}`);
      assert.equal(r.body.toString(), 'body line\r\n');
    }
  }
});

test('maxHeaderSize: at the limit passes, one byte over is reported and output stops', () => {
  const headers = 'Subject: x\r\nTo: y\r\n\r\n';
  const input = Buffer.from(`${headers}body\r\n`);
  for (let i = 0; i <= input.length; i++) {
    const ok = run(splitAt(input, i), { maxHeaderSize: headers.length });
    assert.equal(ok.n.headerSizeExceeded, false);
    assert.equal(ok.body.toString(), 'body\r\n');
    const over = run(splitAt(input, i), { maxHeaderSize: headers.length - 1 });
    assert.equal(over.n.headerSizeExceeded, true);
    assert.equal(over.headers, null);
    assert.equal(over.body.length, 0);
    assert.equal(over.n.bytesIn, input.length);
  }
  const endless = new DataNormalizer({ bareLineFeeds: 'Normalize', maxHeaderSize: 1024 });
  const filler = Buffer.from(`X-Filler: ${'a'.repeat(30)}\r\n`);
  for (let k = 0; k < 100; k++) endless.push(filler);
  assert.equal(endless.headerSizeExceeded, true);
  assert.deepEqual(endless.end(), { headers: null, body: null });
  assert.equal(endless.bytesIn, 100 * filler.length);
});

test('16 MiB of clean lines and of bare-LF lines in 64 KiB chunks come out whole', () => {
  const line = Buffer.from(`${'x'.repeat(76)}\r\n`);
  const chunk = Buffer.concat(Array.from({ length: 64 * 1024 / line.length }, () => line));
  const lf = Buffer.from(chunk.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
  for (const [name, c] of [['crlf', chunk], ['lf', lf]] as const) {
    const n = new DataNormalizer({ bareLineFeeds: 'Normalize', maxHeaderSize: 0 });
    n.push(Buffer.from('\r\n'));
    let out = 0;
    for (let k = 0; k < 256; k++) out += n.push(c).body?.length ?? 0;
    assert.equal(out, 256 * chunk.length, name);
  }
});
