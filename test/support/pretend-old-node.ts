/*
 * test/support/pretend-old-node - preloaded with `node --import`, makes this Node 24 look like
 * an older one to bin/relay-operator.js, so both of its ways onto the pinned Node 24 run in
 * tests on any machine: PRETEND_NODE_VERSION is the version to report; PRETEND_NO_EXECVE=1
 * removes process.execve (Node before 22.15). A flag, not NODE_OPTIONS: the pinned node the
 * wrapper starts does not inherit it.
 */
const version = process.env.PRETEND_NODE_VERSION ?? '20.0.0';
Object.defineProperty(process, 'versions', { value: { ...process.versions, node: version }, configurable: true });
if (process.env.PRETEND_NO_EXECVE === '1') Reflect.deleteProperty(process, 'execve');
