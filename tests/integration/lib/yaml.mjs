// Writes plain data as block-style YAML, the way an operator writes gateway.yaml. Strings are
// double-quoted (JSON escapes are valid YAML), so no value can be misread as another type.

function scalar(value) {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`yaml: cannot write a ${typeof value}`);
}

function isScalar(value) {
  return value === null || typeof value !== 'object';
}

function lines(value, indent) {
  const pad = ' '.repeat(indent);
  const out = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isScalar(item)) {
        out.push(`${pad}- ${scalar(item)}`);
      } else if (Array.isArray(item)) {
        throw new Error('yaml: nested sequences are not used in gateway.yaml');
      } else {
        const inner = lines(item, indent + 2);
        out.push(`${pad}- ${inner[0].trimStart()}`, ...inner.slice(1));
      }
    }
    return out;
  }
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (isScalar(item)) {
      out.push(`${pad}${key}: ${scalar(item)}`);
    } else if (Array.isArray(item) && item.length === 0) {
      out.push(`${pad}${key}: []`);
    } else if (Array.isArray(item) && item.every(isScalar)) {
      out.push(`${pad}${key}: [${item.map(scalar).join(', ')}]`);
    } else {
      out.push(`${pad}${key}:`, ...lines(item, indent + 2));
    }
  }
  return out;
}

export function toYaml(value) {
  return lines(value, 0).join('\n') + '\n';
}
