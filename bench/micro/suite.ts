// Contract of a micro-benchmark suite (bench/micro/*.ts): setup() registers tinybench tasks.
export type AddTask = (name: string, fn: () => void | Promise<void>, info?: Record<string, number | string>) => void;

export interface MicroSuite {
  name: string;
  setup(add: AddTask): Promise<void>;
}
