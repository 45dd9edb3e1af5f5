/*
 * relay/config/secret-names - the names Kubernetes allows for a Secret and for its keys, which
 * are also the two path segments of every secret file (`<secrets dir>/<name>/<key>`).
 *
 * Standalone mode writes Secrets from manifests to disk under that layout, so a name or key
 * that is not what the API server accepts ("../x", "a/b", "/etc", a NUL) would be a path out
 * of the spool (issue 17 item 12). The rules are the API server's own, so a manifest that
 * works on a cluster works standalone and the reverse:
 *   Secret name   a DNS subdomain (RFC 1123): [a-z0-9] and '-' labels joined by '.', <= 253
 *   data key      [-._a-zA-Z0-9]+, <= 253, not '.' or '..', not starting with '..'
 *                 (IsConfigMapKey in k8s.io/apimachinery)
 * `validate`, the CRDs (CEL rule secretName), `relay-operator hub` and the relay's config
 * load all use these.
 */
import { posix } from 'node:path';

export const SECRET_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';
const SECRET_NAME = new RegExp(SECRET_NAME_PATTERN);
const SECRET_KEY = new RegExp(SECRET_KEY_PATTERN);
const MAX_LENGTH = 253;

/** secretNameProblem - why NAME is not a Secret name Kubernetes accepts, or null. */
export function secretNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return `must be of type string, not ${name === null ? 'null' : Array.isArray(name) ? 'array' : typeof name}`;
  if (name.length > MAX_LENGTH) return `${JSON.stringify(name.slice(0, 40))}...: a Secret name may not be longer than ${MAX_LENGTH} characters`;
  if (!SECRET_NAME.test(name)) {
    return `${JSON.stringify(name)} is not a Secret name: Kubernetes object names are DNS subdomains (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit), so no '/', '..' or other path`;
  }
  return null;
}

/** secretKeyProblem - why KEY is not a Secret data key Kubernetes accepts, or null. */
export function secretKeyProblem(key: unknown): string | null {
  if (typeof key !== 'string') return `must be of type string, not ${typeof key}`;
  if (key.length > MAX_LENGTH) return `${JSON.stringify(key.slice(0, 40))}...: a Secret key may not be longer than ${MAX_LENGTH} characters`;
  if (!SECRET_KEY.test(key)) return `${JSON.stringify(key)} is not a Secret key: keys match [-._a-zA-Z0-9]+ (no '/', NUL or other path)`;
  if (key === '.' || key === '..' || key.startsWith('..')) return `${JSON.stringify(key)} is not a Secret key: it may not be '.' or '..' or start with '..'`;
  return null;
}

/**
 * secretFileProblem - why PATH is not a secret file the relay may read: it must be normal (no
 * '.' or '..' segment anywhere, no '//', no NUL) and end in `<Secret name>/<key>`, the layout
 * every renderer writes (pod: the Secret volume mounts; standalone: DIR/secrets). A '..'
 * anywhere is refused, not only in the last two segments: `render` joins the names as text,
 * so a name "../../etc" leaves a valid-looking `etc/tls.crt` at the end.
 */
export function secretFileProblem(path: unknown): string | null {
  if (typeof path !== 'string' || path.length === 0) return 'must be a non-empty string';
  if (path.includes('\0')) return `${JSON.stringify(path)} contains a NUL byte`;
  if (posix.normalize(path) !== path || path.split('/').some((s) => s === '.' || s === '..')) {
    return `${JSON.stringify(path)} must be a path without '.', '..' or empty segments`;
  }
  const segments = path.split('/');
  const key = segments[segments.length - 1];
  const name = segments[segments.length - 2];
  const problem = secretKeyProblem(key) ?? (segments.length >= 3 ? secretNameProblem(name) : 'no Secret name');
  return problem ? `${JSON.stringify(path)} is not <Secret name>/<key>: ${problem}` : null;
}
