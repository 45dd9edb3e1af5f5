/*
 * operator/render/listeners - the listeners of one hub: one per hub address and port a loaded
 * connector binds, with the connectors on it in precedence order.
 *
 * Standalone mode binds each listener literally. Pod mode binds '::' on one container port per
 * listener, POD_LISTENER_PORT_BASE upwards in listener order, and keeps the address the client
 * reached (the Service's) as the endpoint.
 */
import type { ListenerConfig } from '../../relay/config/schema.ts';
import type { RelayHub } from '../api/types.generated.ts';
import { hubAddresses } from './bindings.ts';
import type { LoadedConnector } from './receive-connectors.ts';
import type { RenderOptions } from './result.ts';

export const POD_LISTENER_PORT_BASE = 2525;

function bindingHost(binding: string): string {
  const withoutPort = binding.slice(0, binding.lastIndexOf(':'));
  return withoutPort.startsWith('[') ? withoutPort.slice(1, -1) : withoutPort;
}

/** hubListeners - the listeners of `hub`, keyed `addressName:port`, and the same sorted by address name and port. */
export function hubListeners(hub: RelayHub, loaded: readonly LoadedConnector[], mode: RenderOptions['mode']): { byKey: Map<string, ListenerConfig>; sorted: ListenerConfig[] } {
  const addresses = hubAddresses(hub);
  const listeners = new Map<string, ListenerConfig>();
  for (const { config, bindings } of loaded) {
    for (const binding of bindings) {
      const key = `${binding.addressName}:${binding.port}`;
      let listener = listeners.get(key);
      if (!listener) {
        const address = addresses.find((a) => a.name === binding.addressName);
        const literal = binding.addressName.startsWith('ip-') && !address ? bindingHost(binding.binding) : null;
        const bindAddress = address?.ip ?? literal ?? '0.0.0.0';
        const endpointHost = bindAddress.includes(':') ? `[${bindAddress}]` : bindAddress;
        listener = { addressName: binding.addressName, bindAddress, port: binding.port, servicePort: binding.port, endpoint: `${endpointHost}:${binding.port}`, connectorIds: [] };
        listeners.set(key, listener);
      }
      if (!listener.connectorIds.includes(config.id)) listener.connectorIds.push(config.id);
    }
  }

  const sortedListeners = [...listeners.values()].sort((a, b) => a.addressName.localeCompare(b.addressName) || a.servicePort - b.servicePort);
  if (mode === 'pod') {
    sortedListeners.forEach((listener, i) => {
      const address = addresses.find((a) => a.name === listener.addressName);
      const host = address?.ip ?? (listener.bindAddress !== '0.0.0.0' ? listener.bindAddress : listener.addressName);
      listener.endpoint = `${host.includes(':') ? `[${host}]` : host}:${listener.servicePort}`;
      // '::' takes IPv4 and IPv6 alike (IPv4 arrives as ::ffff:a.b.c.d), so one pod serves a
      // dual-stack Service; a pod without IPv6 falls back to 0.0.0.0 (relay/listener).
      listener.bindAddress = '::';
      listener.port = POD_LISTENER_PORT_BASE + i;
    });
  }
  return { byKey: listeners, sorted: sortedListeners };
}
