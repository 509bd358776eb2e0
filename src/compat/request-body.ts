// Request bodies are read by src/http/body.ts; this module keeps the object check its importers share.
export { isPlainObject as isObject } from '../workflows/graph.js';
