/**
 * The parts of metav1.ObjectMeta the operator reads and writes: one definition, shared with
 * the controller runtime (operator/runtime/objects.ts).
 */
export type { KubeObjectMeta as ObjectMeta } from '../runtime/objects.ts';
