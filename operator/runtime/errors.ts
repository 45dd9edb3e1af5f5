/*
 * operator/runtime/errors - the errors the controller runtime throws on purpose.
 *
 * Every class extends RelayError (relay/common/errors.ts, the project's one error base class) and
 * carries a stable `code` prefixed RELAY_ERR_RUNTIME_*. Callers match on `code` or on the class.
 */
import { RelayError } from '../../relay/common/errors.ts';

/**
 * TerminalError - thrown by a reconciler when retrying cannot help (invalid spec, a conflict
 * only a user can resolve). The controller records it and does not requeue the key; the next
 * change of the object (or a resync) reconciles it again.
 */
export class TerminalError extends RelayError {
  constructor(message: string, options?: ErrorOptions) {
    super('RELAY_ERR_RUNTIME_TERMINAL', message, options);
  }
}

/** RuntimeArgumentError - an option failed validation; the message names the option. */
export class RuntimeArgumentError extends RelayError {
  constructor(message: string) {
    super('RELAY_ERR_RUNTIME_INVALID_ARGUMENT', message);
  }
}

/** RuntimeStoppedError - the component was stopped before the awaited thing happened. */
export class RuntimeStoppedError extends RelayError {
  constructor(message: string) {
    super('RELAY_ERR_RUNTIME_STOPPED', message);
  }
}

/** ConditionError - a condition violates metav1.Condition rules (reason syntax, type). */
export class ConditionError extends RelayError {
  constructor(message: string) {
    super('RELAY_ERR_RUNTIME_CONDITION', message);
  }
}

/** positiveNumber - validates a numeric option at the door. */
export function requirePositive(name: string, value: number, integer = false): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new RuntimeArgumentError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`);
  }
  return value;
}
