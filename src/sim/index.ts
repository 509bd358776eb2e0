// Public surface of the simulated ComfyUI server.
export { ComfySimulator } from './simulator.js';
export type { SimOptions } from './options.js';
export type { SimCredentials } from './auth.js';
export type { SimStats, ReceivedPrompt } from './context.js';
export { readPngText, pngSize, encodeSolidPng } from './png.js';
