-- Argo CD health check for RelayHub, ReceiveConnector, AcceptedDomain and SendConnector
-- (argocd-cm: resource.customizations.health.relayoperator.io_<Kind>). Reads the conditions
-- the operator writes (docs/contract.md, "Status for GitOps tools"). Lua 5.1 as Argo CD runs it.
local function text(value)
  if value == nil then return "" end
  return tostring(value)
end
local function said(c)
  if c.message == nil or c.message == "" then return text(c.reason) end
  return text(c.reason) .. ": " .. text(c.message)
end

if obj.status == nil or obj.status.conditions == nil then
  return {status = "Progressing", message = "waiting for the operator to write a status"}
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  return {status = "Progressing", message = "generation " .. text(obj.metadata.generation) .. " not observed yet"}
end
local found = {}
for _, c in ipairs(obj.status.conditions) do
  found[c.type] = c
end
-- Only a person can help (missing Secret, listener conflict, no hub selected, ...).
if found.Stalled ~= nil and found.Stalled.status == "True" then
  return {status = "Degraded", message = said(found.Stalled)}
end
-- A RelayHub serving, but with connectors it could not load.
if found.Degraded ~= nil and found.Degraded.status == "True" then
  return {status = "Degraded", message = said(found.Degraded)}
end
-- A RelayHub whose scale-down left spool PVCs that may hold mail (relay-operator drain).
if found.StrandedMail ~= nil and found.StrandedMail.status == "True" then
  return {status = "Degraded", message = said(found.StrandedMail)}
end
if found.Ready ~= nil and found.Ready.status == "False" and found.Ready.reason == "Disabled" then
  return {status = "Suspended", message = text(found.Ready.message)}
end
if found.Reconciling ~= nil and found.Reconciling.status == "True" then
  return {status = "Progressing", message = said(found.Reconciling)}
end
if found.Ready ~= nil and found.Ready.status == "True" then
  return {status = "Healthy", message = text(found.Ready.message)}
end
if found.Ready ~= nil then
  return {status = "Progressing", message = said(found.Ready)}
end
return {status = "Progressing", message = "no Ready condition yet"}
