/**
 * compress/: rewriting ONNX models for deployment (quantization, float16).
 * @module
 */
export { decodeModel, encodeModel, DATA_TYPE, makeValueInfo, valueInfoType } from './onnx/model.js';
export type { OnnxAttribute, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo, OpsetId, RawField } from './onnx/model.js';
export { calibrationTargets, quantizableNodes, quantizeDynamic, quantizeStatic, withOutputs } from './quantize.js';
export type { CompressResult, NodeReport, Precision, QuantizationReport, QuantizeOptions, TensorRange } from './quantize.js';
export { convertToFloat16 } from './float16.js';
