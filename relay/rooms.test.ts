/*
 * The relay's rooms in a row (docs/architecture.md): a message walks listener -> session ->
 * spool -> queue -> delivery, and a file may import only rooms below its own. process/ (the
 * pod's main) runs hub.ts, which wires the rooms; the base layers (log, config, common) know no
 * room. The relay knows nothing of Kubernetes or of the operator.
 * This test reads every import in relay/ and names each one that points the wrong way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const relayRoot = resolve(import.meta.dirname);
const repoRoot = dirname(relayRoot);

/** Rank of each room: a file may import a room of higher rank (lower in the walk), never lower. */
const roomRanks: Record<string, number> = {
  process: -1, // the relay pod's main and HTTP endpoints: they run a hub
  '.': 0, // hub.ts: the composition root that wires the rooms
  listener: 1,
  session: 2,
  spool: 3,
  queue: 4,
  delivery: 5,
  log: 6, // protocol and tracking logs, metrics: any room writes them
  config: 7, // the rendered config's schema and load: any room reads it
  common: 8, // codecs and helpers that know neither mail nor Kubernetes
};

function roomOf(file: string): string {
  const inside = relative(relayRoot, file);
  const first = inside.split('/')[0] ?? '';
  return inside.includes('/') ? first : '.';
}

function importsOf(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((entry) => entry.fileName);
}

const productionFiles = globSync('**/*.ts', { cwd: relayRoot })
  .filter((file) => !file.endsWith('.test.ts'))
  .map((file) => join(relayRoot, file));

test('every production folder of relay/ has a place in the row', () => {
  const unplaced = [...new Set(productionFiles.map(roomOf))].filter((room) => !(room in roomRanks));
  assert.deepEqual(unplaced, [], 'add the new room to roomRanks here and to docs/architecture.md');
});

test('relay/ imports rooms downward only', () => {
  const upward: string[] = [];
  for (const file of productionFiles) {
    const from = roomOf(file);
    for (const specifier of importsOf(file)) {
      if (!specifier.startsWith('.')) continue;
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(relayRoot + '/')) continue;
      const to = roomOf(target);
      if (to === from) continue;
      if ((roomRanks[to] ?? -1) <= (roomRanks[from] ?? -1)) {
        upward.push(`${relative(repoRoot, file)} imports ${specifier} (${from} may not import ${to})`);
      }
    }
  }
  assert.deepEqual(upward, []);
});

test('relay/ imports nothing from operator/, test/ or Kubernetes', () => {
  const foreign: string[] = [];
  for (const file of productionFiles) {
    for (const specifier of importsOf(file)) {
      const target = specifier.startsWith('.') ? resolve(dirname(file), specifier) : specifier;
      const outside = target.startsWith('/') && !target.startsWith(relayRoot + '/');
      if (outside || specifier.startsWith('@kubernetes/')) {
        foreign.push(`${relative(repoRoot, file)} imports ${specifier}`);
      }
    }
  }
  assert.deepEqual(foreign, []);
});
