// Policy files for the tests, written as YAML text the way an operator writes policy.yaml: the frame
// most tests' policies share (classes, one zone `site` that holds every backend of the test, tenants,
// the kinds redacted in answers, and a last rule letting the tenants use that zone) around the
// detectors and rules that are the test's own.

// The four classes most tests' policies declare, lowest first.
export const FOUR_CLASSES = ['public', 'internal', 'confidential', 'restricted'];

// A YAML flow sequence: [a, b, c].
const flow = (items) => `[${items.join(', ')}]`;

// The YAML text of a policy whose tenants use the backends of zone `site`. `tenants`: names, or
// { name, clearance }; `zoneDescription`: the zone's description, if it has one; `detectors`, `rules`:
// YAML text of list items (indented by two spaces), the rules put before the last one;
// `redactInAnswers`: the kinds `responses.redact` names, if any. The last rule allows zone site to
// every tenant (`everyone-on-site`) or, with `onSiteTenant`, to that tenant only (`NAME-on-site`).
export function sitePolicy({ name, classes = FOUR_CLASSES, defaultClearance, zoneDescription, detectors, tenants,
  redactInAnswers, rules = '', onSiteTenant }) {
  let text = `name: ${name}\nversion: 1\nclasses: ${flow(classes)}\ndefault_clearance: ${defaultClearance}\n` +
    'zones:\n  - name: site\n';
  if (zoneDescription !== undefined) text += `    description: ${zoneDescription}\n`;
  if (detectors !== undefined) text += `detectors:\n${detectors}`;
  text += 'tenants:\n';
  for (const tenant of tenants) {
    const { name: tenantName, clearance } = typeof tenant === 'string' ? { name: tenant } : tenant;
    text += `  - name: ${tenantName}\n`;
    if (clearance !== undefined) text += `    clearance: ${clearance}\n`;
  }
  if (redactInAnswers !== undefined) text += `responses:\n  redact: ${flow(redactInAnswers)}\n`;
  text += `rules:\n${rules}`;
  text += onSiteTenant === undefined ? '  - name: everyone-on-site\n'
    : `  - name: ${onSiteTenant}-on-site\n    when:\n      tenants: [${onSiteTenant}]\n`;
  return `${text}    then:\n      action: allow\n      zones: [site]\n`;
}

// A rule item: values the detectors of `kinds` find in a request are replaced by vault tokens.
export function tokenizeRule(name, kinds) {
  return `  - name: ${name}\n    when:\n      detected: ${flow(kinds)}\n    then:\n      tokenize: ${flow(kinds)}\n`;
}

// A rule item: values the detectors of `kinds` find in a request are replaced by redaction markers.
export function redactRule(name, kinds) {
  return `  - name: ${name}\n    when:\n      detected: ${flow(kinds)}\n    then:\n      redact: ${flow(kinds)}\n`;
}
