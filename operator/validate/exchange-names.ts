/*
 * operator/validate/exchange-names - Exchange's spelling of what the contract names otherwise,
 * in one table: `validate` turns an enum or pattern error on an Exchange name into "did you
 * mean" (issue 12 item 5), and the Exchange importer (operator/import) maps exports with the
 * same table, so the two can never disagree.
 *
 *   permission groups  ExchangeUsers -> AuthenticatedUsers, ExchangeServers -> TrustedServers
 *   extended rights    ms-Exch-SMTP-Accept-Any-Recipient -> AcceptAnyRecipient, ...
 *   sizes              25MB, "25 MB" -> 25Mi (Exchange's MB are 2^20 bytes: 25 MB = 26,214,400)
 */
import type { ReceiveConnectorSpec } from '../api/types.generated.ts';

export type PermissionGroup = NonNullable<ReceiveConnectorSpec['permissionGroups']>[number];
export type Right = NonNullable<NonNullable<ReceiveConnectorSpec['permissions']>[number]['allow']>[number];

/** Exchange PermissionGroups (lower case) -> the contract's group. */
export const EXCHANGE_PERMISSION_GROUPS: Readonly<Record<string, PermissionGroup>> = {
  anonymoususers: 'AnonymousUsers',
  exchangeusers: 'AuthenticatedUsers',
  exchangeservers: 'TrustedServers',
  partners: 'Partners',
};

/** Exchange SMTP extended rights (Add-ADPermission -ExtendedRights, lower case) -> the contract's right. */
export const EXCHANGE_EXTENDED_RIGHTS: Readonly<Record<string, Right>> = {
  'ms-exch-smtp-submit': 'Submit',
  'ms-exch-smtp-accept-any-recipient': 'AcceptAnyRecipient',
  'ms-exch-smtp-accept-any-sender': 'AcceptAnySender',
  'ms-exch-smtp-accept-authoritative-domain-sender': 'AcceptAuthoritativeDomainSender',
  'ms-exch-bypass-anti-spam': 'BypassAntiSpam',
  'ms-exch-bypass-message-size-limit': 'BypassMessageSizeLimit',
  'ms-exch-accept-headers-routing': 'AcceptRoutingHeaders',
  'ms-exch-accept-headers-organization': 'AcceptOrganizationHeaders',
  'ms-exch-smtp-accept-authentication-flag': 'AcceptAuthenticationFlag',
};

/** Exchange ByteQuantifiedSize units (binary): bytes, and the Kubernetes quantity suffix of the same size. */
export const EXCHANGE_BYTE_UNITS: Readonly<Record<string, { bytes: number; quantity: string }>> = {
  B: { bytes: 1, quantity: '' },
  KB: { bytes: 2 ** 10, quantity: 'Ki' },
  MB: { bytes: 2 ** 20, quantity: 'Mi' },
  GB: { bytes: 2 ** 30, quantity: 'Gi' },
  TB: { bytes: 2 ** 40, quantity: 'Ti' },
};

const EXCHANGE_SIZE = /^(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB)$/i;

/**
 * exchangeQuantity - "25MB" or "25 MB" as the quantity of the same size ("25Mi"); null when
 * the text is no Exchange size.
 */
export function exchangeQuantity(text: string): string | null {
  const sized = EXCHANGE_SIZE.exec(text.trim());
  if (!sized) return null;
  return `${sized[1] ?? ''}${EXCHANGE_BYTE_UNITS[(sized[2] ?? '').toUpperCase()]?.quantity ?? ''}`;
}

/**
 * suggestEnumValue - the allowed value an Exchange name stands for ("ExchangeServers" ->
 * "TrustedServers"), else null. Only suggestions the field accepts are made.
 */
export function suggestEnumValue(value: unknown, allowed: readonly unknown[]): string | null {
  if (typeof value !== 'string') return null;
  const key = value.trim().toLowerCase();
  const ours = EXCHANGE_PERMISSION_GROUPS[key] ?? EXCHANGE_EXTENDED_RIGHTS[key];
  return ours !== undefined && allowed.includes(ours) ? ours : null;
}

/** suggestPatternValue - the quantity an Exchange size stands for ("25MB" -> "25Mi") when `pattern` accepts it, else null. */
export function suggestPatternValue(value: unknown, pattern: string): string | null {
  if (typeof value !== 'string') return null;
  const quantity = exchangeQuantity(value);
  return quantity !== null && new RegExp(pattern).test(quantity) ? quantity : null;
}

/** didYouMean - the words a validation message adds for a suggestion. */
export const didYouMean = (suggestion: string): string => `did you mean ${JSON.stringify(suggestion)}?`;
