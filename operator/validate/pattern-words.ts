/*
 * operator/validate/pattern-words - each CRD `pattern` said in words, for the message `validate`
 * prints when a value does not match it. The remoteIPRanges pattern alone is 450 characters of
 * regular expression, which told a person nothing (issue 12 item 6). pattern-words.test.ts
 * fails when a CRD gains a pattern this table does not say.
 */

const HOST_NAME = '^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$';

const IPV4_OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4 = `${IPV4_OCTET}(\\.${IPV4_OCTET}){3}`;
const IPV6 = '[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*';
const REMOTE_IP_RANGE = `^(${IPV4}(/(3[0-2]|[12]?[0-9]))?|${IPV4}-${IPV4}|${IPV6}(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?|${IPV6}-${IPV6})$`;

export const PATTERN_IN_WORDS: ReadonlyMap<string, string> = new Map([
  ['^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|K|M|G|T)?$', 'a size: a whole or decimal number of bytes with an optional unit Ki, Mi, Gi, Ti, k, K, M, G or T and no space (36Mi, 10M, 1024); Exchange\'s "25 MB" is 25Mi here'],
  ['^([0-9]+(ms|s|m|h|d))+$', 'a duration: whole numbers each followed by ms, s, m, h or d, no spaces (10m, 5s, 1h30m); Exchange\'s "00:10:00" is 10m here'],
  ['^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', "a name of lowercase letters, digits and '-', starting and ending with a letter or digit"],
  [HOST_NAME, "a host name: labels of letters, digits and '-' separated by dots, each starting and ending with a letter or digit"],
  [`^(\\*\\.)?${HOST_NAME.slice(1)}`, 'a domain ("example.com") or "*." and a domain ("*.example.com", the domain and its subdomains)'],
  [`^(\\*|(\\*\\.)?${HOST_NAME.slice(1, -1)})$`, '"*" (every domain), a domain ("example.com") or "*." and a domain ("*.example.com")'],
  ['^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)(:[0-9]{1,5})?$', 'a host name, an IPv4 address or an IPv6 address in brackets, each with an optional :port (mail.example.com, 192.0.2.1:587, [2001:db8::1])'],
  [REMOTE_IP_RANGE, 'an IP address (192.0.2.10), a range of two addresses of one family joined by "-" without spaces (192.0.2.10-192.0.2.20), or a CIDR (192.0.2.0/24, 2001:db8::/48)'],
]);

/** patternInWords - what a value matching `pattern` looks like, in words; the pattern itself when unknown. */
export function patternInWords(pattern: string): string {
  return PATTERN_IN_WORDS.get(pattern) ?? `a value matching '${pattern}'`;
}
