/**
 * Small helpers the graph rewrites share: stable node names, fresh tensor names, attribute and
 * opset access, and building nodes and attributes.
 * @module
 */
import type { OnnxAttribute, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from './model.js';

/**
 * The graph's nodes, each with a name: an unnamed node gets `<op>_<index>` (suffixed until unique),
 * so the same model always yields the same names, which the accuracy guard refers to.
 */
export function namedNodes(graph: OnnxGraph): OnnxNode[] {
  const taken = new Set(graph.nodes.map((n) => n.name).filter((n) => n !== ''));
  return graph.nodes.map((node, index) => {
    if (node.name !== '') return node;
    let name = `${node.opType}_${index}`;
    while (taken.has(name)) name = `${name}_`;
    taken.add(name);
    return { ...node, name };
  });
}

/** Hands out tensor and node names not yet used in a graph. */
export class Names {
  private readonly used = new Set<string>();

  constructor(graph: OnnxGraph) {
    for (const n of graph.nodes) {
      this.used.add(n.name);
      for (const t of [...n.inputs, ...n.outputs]) this.used.add(t);
    }
    for (const t of graph.initializers) this.used.add(t.name);
    for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) this.used.add(v.name);
  }

  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }
}

export function attribute(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attributes.find((a) => a.name === name);
}

export function intAttribute(node: OnnxNode, name: string, fallback: number): number {
  const i = attribute(node, name)?.i;
  return i === undefined ? fallback : Number(i);
}

export function floatAttribute(node: OnnxNode, name: string, fallback: number): number {
  return attribute(node, name)?.f ?? fallback;
}

/** AttributeProto.AttributeType codes. */
const ATTRIBUTE_TYPE = { float: 1, int: 2, tensor: 4, ints: 7 } as const;

export const intAttr = (name: string, i: number): OnnxAttribute => ({ name, type: ATTRIBUTE_TYPE.int, i: BigInt(i), unknown: [] });
export const intsAttr = (name: string, ints: readonly number[]): OnnxAttribute => ({ name, type: ATTRIBUTE_TYPE.ints, ints: ints.map((i) => BigInt(i)), unknown: [] });
export const tensorAttr = (name: string, t: OnnxTensor): OnnxAttribute => ({ name, type: ATTRIBUTE_TYPE.tensor, t, unknown: [] });

export function node(opType: string, name: string, inputs: readonly string[], outputs: readonly string[], attributes: readonly OnnxAttribute[] = [], domain = ''): OnnxNode {
  return { name, opType, domain, inputs, outputs, attributes, unknown: [] };
}

/** The default (ai.onnx) domain's opset version; 1 where the model names none (ONNX's default). */
export function defaultOpset(model: OnnxModel): number {
  return model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 1;
}

/** The model with the default domain's opset at least `version`. */
export function withOpsetAtLeast(model: OnnxModel, version: number): OnnxModel {
  if (defaultOpset(model) >= version) return model;
  const others = model.opsetImport.filter((o) => o.domain !== '' && o.domain !== 'ai.onnx');
  return { ...model, opsetImport: [{ domain: '', version }, ...others] };
}

/** How many nodes read each tensor. */
export function consumerCounts(nodes: readonly OnnxNode[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of nodes) for (const t of n.inputs) if (t !== '') counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}
