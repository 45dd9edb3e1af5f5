/*
 * operator/import/yaml-output - the imported objects as YAML documents, each under a comment
 * that carries the report lines about the Exchange objects it came from.
 */
import { Document } from 'yaml';

export interface CommentedObject {
  object: Record<string, unknown>;
  comment: string[];
}

/** commentText - lines as a YAML comment body (the library adds the "#"). */
const commentText = (lines: readonly string[]): string => lines.map((l) => ` ${l}`).join('\n');

/** yamlStream - the objects as one multi-document YAML text, the header atop the first. */
export function yamlStream(header: readonly string[], objects: readonly CommentedObject[]): string {
  const documents = objects.map(({ object, comment }, i) => {
    const document = new Document(object);
    const lines = i === 0 ? [...header, '', ...comment] : comment;
    if (lines.length > 0) document.commentBefore = commentText(lines);
    return document.toString({ lineWidth: 0 });
  });
  if (documents.length === 0) return header.map((l) => `# ${l}`.trimEnd()).join('\n') + '\n';
  return documents.join('---\n');
}
