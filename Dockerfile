# syntax=docker/dockerfile:1
#
# Image of the wash CLI, in two variants chosen with the VARIANT build argument:
#   gpu (default): CUDA 11.8 and cuDNN 8 runtime with @tensorflow/tfjs-node-gpu,
#                  for --backend tensorflow-gpu. Needs the NVIDIA Container Toolkit on the host.
#   cpu:           plain Node.js 20 with @tensorflow/tfjs-node, for --backend tensorflow.
# Both variants also have the wasm and cpu backends and Fashion-MNIST at
# /usr/share/datasets/fashion-mnist, so a run downloads nothing.
#
#   docker build -t wash:gpu .
#   docker build --build-arg VARIANT=cpu -t wash:cpu .
#
# The build downloads npm packages and, in the install script of the native
# TF.js package, libtensorflow and its Node.js binding from storage.googleapis.com.

ARG VARIANT=gpu
ARG NODE_IMAGE=node:20-bookworm-slim
# @tensorflow/tfjs-node-gpu 4.22 downloads libtensorflow 2.9.1, built for CUDA 11.2
# and cuDNN 8. It loads the CUDA 11 libraries by their major-version names
# (libcudart.so.11.0, libcudnn.so.8), which the CUDA 11.8 image provides.
# NOTE: the project's tests read this file but cannot build it or run it on a GPU;
# docs/deployment.md lists the manual checks.
ARG CUDA_IMAGE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04

# Fashion-MNIST comes from Debian bookworm's dataset-fashion-mnist package, which
# is Architecture: all. A Debian stage installs it and the image copies its files,
# so both variants get the same files whatever their base distribution carries.
FROM debian:bookworm-slim AS fashion-mnist
RUN apt-get update \
 && apt-get install -y --no-install-recommends dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/*

FROM ${NODE_IMAGE} AS node

# Compiles the TypeScript. The output is plain JavaScript, so one build serves both variants.
FROM node AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=optional --ignore-scripts --no-audit --no-fund
# Copies every source folder, so a new one needs no change here; .dockerignore leaves out tests, benchmarks and local builds.
COPY . .
RUN npx tsc -p tsconfig.json

# The operating system of each variant, with Node.js at /usr/local/bin/node.
# The Node.js binaries from nodejs.org need glibc 2.28 or later; Ubuntu 22.04 has 2.35.
FROM ${CUDA_IMAGE} AS base-gpu
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx

FROM node AS base-cpu

FROM base-${VARIANT} AS base

# Installs the production dependencies and the one native TF.js package of the
# variant. `npm ci` would install both optional native packages, each with its
# own libtensorflow download, so install scripts are skipped first and only the
# variant's package is rebuilt, which runs its install script. This gives the
# same result with the npm 10 of the Node.js 20 image and with npm 11, which
# runs dependency install scripts only where package.json's allowScripts allows
# them (both native packages are allowed). The install script does not check
# the HTTP status of its downloads, so the `ls` checks that the binding and
# libtensorflow exist.
FROM base AS modules
ARG VARIANT
# python3, make and g++ let node-pre-gyp compile the binding when no prebuilt one can be downloaded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/wash
COPY package.json package-lock.json ./
RUN case "${VARIANT}" in \
      gpu) keep=@tensorflow/tfjs-node-gpu; drop=@tensorflow/tfjs-node ;; \
      cpu) keep=@tensorflow/tfjs-node; drop=@tensorflow/tfjs-node-gpu ;; \
      *) echo "VARIANT must be gpu or cpu, not '${VARIANT}'" >&2; exit 1 ;; \
    esac \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf "node_modules/${drop}" \
 && npm rebuild "${keep}" --foreground-scripts \
 && ls "node_modules/${keep}"/lib/napi-v*/tfjs_binding.node "node_modules/${keep}"/deps/lib/libtensorflow.so*

FROM base AS runtime
RUN groupadd --system wash \
 && useradd --system --gid wash --uid 10001 --home-dir /home/wash --create-home --shell /usr/sbin/nologin wash
COPY --from=fashion-mnist /usr/share/datasets/fashion-mnist /usr/share/datasets/fashion-mnist
WORKDIR /opt/wash
COPY --from=modules /opt/wash/node_modules node_modules
COPY --from=build /src/build build
COPY package.json ./
RUN chmod 755 build/cli/wash.js \
 && ln -s /opt/wash/build/cli/wash.js /usr/local/bin/wash \
 && mkdir /runs \
 && chown wash:wash /runs
# Runs go to /runs: `--out /runs` in docker-compose.yml, and the default `--out runs`
# resolves there too because the working directory is /. A new named volume
# mounted on /runs starts with this folder's owner, so the wash user can write it.
WORKDIR /
VOLUME ["/runs"]
# 7070: coordinator (--listen 0.0.0.0:7070). 7001: a worker's peer server (--listen 0.0.0.0:7001).
EXPOSE 7070 7001
USER wash
ENTRYPOINT ["wash"]
CMD ["--help"]
