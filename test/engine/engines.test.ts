import { createOnnxEngine, createTfjsEngine } from '../../src/engine/index.js';
import { engineConformance } from './engine.suite.js';

engineConformance('tfjs', () => createTfjsEngine());
engineConformance('onnx', () => createOnnxEngine());
engineConformance('onnx, 2 threads', () => createOnnxEngine({ threads: 2 }));
