// Reads the Prometheus text exposition format into samples a test can query by name and labels.

function parseLabels(text) {
  const labels = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;
  let m;
  while ((m = re.exec(text)) !== null) {
    labels[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

export function parseMetrics(text) {
  const samples = [];
  const types = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(/\s+/);
      types[name] = type;
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    samples.push({ name: m[1], labels: m[2] ? parseLabels(m[2]) : {}, value: Number(m[3]) });
  }
  const matching = (name, labels = {}) => samples.filter((s) => s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    text,
    types,
    samples,
    matching,
    has: (name) => samples.some((s) => s.name === name),
    // Sum over every sample of `name` whose labels include `labels` (0 when none).
    value: (name, labels = {}) => matching(name, labels).reduce((sum, s) => sum + s.value, 0),
  };
}
