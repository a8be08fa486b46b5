import { describe } from 'vitest';
import { createOnnxEngine, createTfjsEngine } from '../../src/engine/index.js';
import { engineConformance } from './engine.suite.js';
import { webgpuUnavailable } from './webgpu.js';

engineConformance('tfjs', () => createTfjsEngine());
engineConformance('onnx', () => createOnnxEngine());
engineConformance('onnx, 2 threads', () => createOnnxEngine({ threads: 2 }));
describe.skipIf(webgpuUnavailable !== undefined)(`webgpu${webgpuUnavailable !== undefined ? ` (unavailable: ${webgpuUnavailable})` : ''}`, () => {
  engineConformance('onnx on webgpu', () => createOnnxEngine({ device: 'webgpu' }));
});
