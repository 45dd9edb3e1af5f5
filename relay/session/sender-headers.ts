/*
 * relay/session/sender-headers - the addresses of the From and Sender fields of a header block.
 *
 * Job: for the Send-As check at the end of DATA (policy.ts decideHeaderSenders), list the
 * addr-spec of every mailbox in every From and Sender field of the client's header block,
 * as a mail reader would show them. Display names and comments are not addresses and are
 * dropped; group syntax (`undisclosed-recipients:;`) contributes its members.
 * Trust: the header block is hostile. A reader and this parser must never disagree about
 * which address a field shows, so anything this parser is not sure about is counted as
 * `unreadable` (and refused by the policy) instead of guessed: unterminated quotes, comments
 * or angle brackets, two angle addresses in one mailbox, text after `<...>`, a bare address
 * with spaces inside, encoded words (`=?`) or control characters in an address (the
 * Mailsploit family), and an `@` without a domain.
 * Failure modes: none thrown. One pass over the block and one over each From/Sender value,
 * so a large header block costs linear time.
 */

export interface HeaderSenders {
  /** The addr-spec of every mailbox of every From and Sender field, in order. */
  addresses: string[];
  /** Mailboxes (or whole fields) that could not be read with certainty. */
  unreadable: number;
}

/** Field names whose addresses a reader shows as the author (RFC 5322 3.6.2). */
const SENDER_FIELDS = new Set(['from', 'sender']);

/** headerSenders - the From/Sender addresses of a CRLF header block (as the normaliser hands it over). */
export function headerSenders(block: Buffer | string): HeaderSenders {
  const text = typeof block === 'string' ? block : block.toString('utf8');
  const out: HeaderSenders = { addresses: [], unreadable: 0 };
  let current: string[] | null = null;
  const finish = (): void => {
    if (current) readMailboxList(current.join(''), out);
    current = null;
  };
  let start = 0;
  // a line that starts with whitespace before any field continues nothing: the header
  // firewall stores such a block as body, so it holds no field here either
  let inField = false;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end > start && text[end - 1] === '\r' ? end - 1 : end);
    start = end + 1;
    if (line === '') break; // end of the header section
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      // unfolding (RFC 5322 2.2.3): the CRLF goes, the whitespace stays
      if (inField && current) current.push(line);
      continue;
    }
    finish();
    const colon = line.indexOf(':');
    inField = colon > 0;
    if (!inField) continue;
    // obs-optional (RFC 5322 4.5): whitespace may stand between the name and the colon
    const name = line.slice(0, colon).replace(/[ \t]+$/, '').toLowerCase();
    if (SENDER_FIELDS.has(name)) current = [line.slice(colon + 1)];
  }
  finish();
  return out;
}

type Token =
  | { kind: 'word'; text: string; spaceBefore: boolean }
  | { kind: 'quoted'; text: string; spaceBefore: boolean }
  | { kind: 'angle'; text: string; spaceBefore: boolean }
  | { kind: 'special'; text: ',' | ':' | ';'; spaceBefore: boolean };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** Tokens of a structured field value, or null when a quote, comment or angle bracket is left open. */
function tokenize(value: string): Token[] | null {
  const tokens: Token[] = [];
  let space = false;
  let i = 0;
  while (i < value.length) {
    const c = value[i] ?? '';
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      space = true;
      i++;
    } else if (c === '(') {
      // comments nest and take backslash escapes; they read as whitespace
      let depth = 0;
      for (; i < value.length; i++) {
        const d = value[i];
        if (d === '\\') i++;
        else if (d === '(') depth++;
        else if (d === ')' && --depth === 0) break;
      }
      if (depth !== 0) return null;
      i++;
      space = true;
    } else if (c === '"') {
      let text = '';
      let closed = false;
      for (i++; i < value.length; i++) {
        const d = value[i] ?? '';
        if (d === '\\') text += value[++i] ?? '';
        else if (d === '"') {
          closed = true;
          break;
        } else text += d;
      }
      if (!closed) return null;
      i++;
      tokens.push({ kind: 'quoted', text, spaceBefore: space });
      space = false;
    } else if (c === '<') {
      const close = value.indexOf('>', i + 1);
      if (close < 0) return null;
      tokens.push({ kind: 'angle', text: value.slice(i + 1, close), spaceBefore: space });
      i = close + 1;
      space = false;
    } else if (c === ',' || c === ':' || c === ';') {
      tokens.push({ kind: 'special', text: c, spaceBefore: space });
      i++;
      space = false;
    } else if (c === '>' || c === ')') {
      return null; // a closer with no opener: some reader resynchronises differently
    } else {
      let j = i;
      while (j < value.length && !' \t\r\n()"<>,:;'.includes(value[j] ?? ' ')) {
        // a domain literal may hold `:` (IPv6); keep it whole
        if (value[j] === '[') {
          const close = value.indexOf(']', j);
          if (close < 0) return null;
          j = close;
        }
        j++;
      }
      tokens.push({ kind: 'word', text: value.slice(i, j), spaceBefore: space });
      i = j;
      space = false;
    }
  }
  return tokens;
}

const UNREADABLE = Symbol('unreadable');

/** The addr-spec of one mailbox (tokens between commas), null when empty, UNREADABLE when unsure. */
function mailboxAddress(tokens: Token[]): string | null | typeof UNREADABLE {
  if (tokens.length === 0) return null;
  const angles = tokens.filter((t) => t.kind === 'angle');
  let address: string;
  if (angles.length > 0) {
    const last = tokens[tokens.length - 1];
    // one <addr>, and it ends the mailbox: `a <x> <y>` or `<x> y` is read differently by different readers
    if (angles.length > 1 || last?.kind !== 'angle') return UNREADABLE;
    address = last.text.trim();
  } else {
    // a bare addr-spec: its words and quoted strings written together, no whitespace inside
    if (tokens.some((t, index) => index > 0 && t.spaceBefore)) return UNREADABLE;
    address = tokens.map((t) => (t.kind === 'quoted' ? `"${t.text}"` : t.text)).join('');
  }
  if (address === '' && angles.length > 0) return null; // `<>` names nobody
  if (address.includes('=?') || CONTROL.test(address) || /[\s<>]/.test(address)) return UNREADABLE;
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return UNREADABLE;
  return address;
}

function readMailboxList(value: string, out: HeaderSenders): void {
  const tokens = tokenize(value);
  if (tokens === null) {
    out.unreadable++;
    return;
  }
  let mailbox: Token[] = [];
  let inGroup = false;
  const flush = (): void => {
    const address = mailboxAddress(mailbox);
    if (address === UNREADABLE) out.unreadable++;
    else if (address !== null) out.addresses.push(address);
    mailbox = [];
  };
  for (const token of tokens) {
    if (token.kind !== 'special') {
      mailbox.push(token);
      continue;
    }
    if (token.text === ',') flush();
    else if (token.text === ':') {
      // `display-name:` opens a group; its name is no address. A second `:` is no syntax we know.
      if (inGroup || mailbox.some((t) => t.kind === 'angle')) {
        out.unreadable++;
        return;
      }
      inGroup = true;
      mailbox = [];
    } else {
      if (!inGroup) {
        out.unreadable++;
        return;
      }
      flush();
      inGroup = false;
    }
  }
  flush();
}
