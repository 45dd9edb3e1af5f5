/*
 * relay/delivery/errors - the errors relay/delivery throws on purpose, one class per code.
 *
 * Delivery failures of a message are not errors: they are outcomes (delivered, deferred,
 * failed) decided by failure-policy.ts. These codes are for the hub and the tests: bad
 * options, unreadable smart-host credentials, a stopped service.
 */
import { RelayError } from '../common/errors.ts';

/** DeliveryArgumentError - a bad option; the message names it. */
export class DeliveryArgumentError extends RelayError {
  constructor(message: string) {
    super('RELAY_ERR_DELIVERY_INVALID_ARGUMENT', message);
  }
}

/** DeliveryCredentialsError - the smart-host authFile (or its sibling `username`) is unreadable. */
export class DeliveryCredentialsError extends RelayError {
  constructor(file: string, cause: unknown) {
    super('RELAY_ERR_DELIVERY_CREDENTIALS', `smart host credentials ${file} unreadable: ${(cause as Error).message}`, { cause });
  }
}

/** DeliveryStoppedError - the service was stopped; the message stays queued on disk. */
export class DeliveryStoppedError extends RelayError {
  constructor() {
    super('RELAY_ERR_DELIVERY_STOPPED', 'delivery service stopped');
  }
}
