export { Module, type StateDict } from './module.js';
export { Conv2d, ConvTranspose2d, BatchNorm2d, Dropout, ReLU, MaxPool2d } from './layers.js';
export type { Conv2dOptions, ConvTranspose2dOptions, BatchNorm2dOptions } from './layers.js';
export { Sequential, ModuleList, type Layer } from './containers.js';
