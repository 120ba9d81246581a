/* help.c - usage texts, `cnn help CMD`, `cnn help config` and `cnn help layers`. */
#include "cli.h"
#include <string.h>

static const char *const general =
    "usage: cnn COMMAND [options]\n"
    "\n"
    "Train and run convolutional neural networks described by YAML model files.\n"
    "\n"
    "commands:\n"
    "  train CONFIG      train the network a model file describes (writes its run directory)\n"
    "  predict IMAGE...  classify images with a trained model\n"
    "  eval              accuracy, top-5, loss, per-class table and confusion matrix on a test set\n"
    "  summary FILE      per-layer shapes, parameters, multiply-adds and memory\n"
    "  check CONFIG...   validate model files without training\n"
    "  samples CONFIG    write test-set images as PNG files (demo inputs for predict)\n"
    "  bench FILE        per-layer forward/backward times, img/s for train/infer, peak memory\n"
    "  filters           a layer's convolutional filters drawn as a PNG grid\n"
    "  features IMAGE    the feature maps a layer makes of an image, as a PNG grid\n"
    "  help [TOPIC]      help on a command, or 'config' (every key and default), 'layers', 'exit'\n"
    "\n"
    "Results go to stdout, progress and errors to stderr. Exit codes:\n"
    "  0 success   1 runtime failure   2 usage or config error   3 data error (missing, unreadable,\n"
    "  corrupt file)   4 training diverged (NaN/Inf)   130 interrupted (a resumable checkpoint was saved)\n";

static const struct { const char *cmd, *text; } texts[] = {
    {"train",
     "usage: cnn train CONFIG [--set KEY=VALUE]... [--resume CHECKPOINT] [--quiet]\n"
     "\n"
     "Trains the network described by CONFIG on its data set. Writes OUTPUT/model.cnn after every\n"
     "epoch (atomically) and appends a row per epoch to OUTPUT/metrics.csv (OUTPUT is the config's\n"
     "'output', default runs/NAME), then points ./model.cnn at the checkpoint (a symbolic link; an\n"
     "existing regular file there is left alone). Prints the checkpoint path on stdout.\n"
     "\n"
     "  --set KEY=VALUE   override a config key, e.g. --set train.epochs=3 --set train.optimizer.lr=0.01\n"
     "  --resume FILE     continue from a checkpoint of the same network: weights, optimizer state and\n"
     "                    step; with the same thread count the result is bit-identical to an\n"
     "                    uninterrupted run\n"
     "  --quiet           no progress lines\n"
     "SIGINT/SIGTERM finish the current step, save a resumable checkpoint and exit 130.\n"},
    {"predict",
     "usage: cnn predict [-m MODEL] [--top K] [--json] [--threads N] PATH...\n"
     "\n"
     "Classifies images (PNG, JPEG, BMP, GIF; up to 16384 pixels a side and 8192 x 8192 pixels in all,\n"
     "converted to the model's input). PATH is an image, a directory (its images, sorted) or '-' (paths\n"
     "read from stdin, one per line). One line per image on stdout, in input order:\n"
     "  PATH<TAB>CLASS<TAB>PROBABILITY            (--top K adds <TAB>CLASS<TAB>PROBABILITY pairs)\n"
     "  {\"path\":..,\"top\":[{\"class\":..,\"p\":..}]}  (--json: one JSON object per line)\n"
     "An unreadable image gets one line on stderr; the rest are still classified, and the exit code\n"
     "is then 3.\n"
     "\n"
     "  -m, --model FILE  checkpoint (default ./model.cnn)\n"
     "  --top K           the K most likely classes (default 1)\n"
     "  --threads N       worker threads (default: one per core)\n"},
    {"eval",
     "usage: cnn eval [-m MODEL] [--config CONFIG] [--set KEY=VALUE]... [--json]\n"
     "\n"
     "Evaluates a checkpoint on the test set of its config (or of --config): accuracy, top-5, mean\n"
     "loss, a per-class table (precision, recall) and the confusion matrix (rows = true class).\n"},
    {"summary",
     "usage: cnn summary CONFIG|CHECKPOINT [--set KEY=VALUE]...\n"
     "\n"
     "Prints one line per layer: name, type, output shape (channels x height x width), parameters,\n"
     "multiply-adds per image and activation bytes per image; then the totals.\n"},
    {"check",
     "usage: cnn check CONFIG... [--set KEY=VALUE]...\n"
     "\n"
     "Validates model files (keys, types, ranges, layer inputs and shapes) without training. Prints\n"
     "'CONFIG: ok' per valid file; errors go to stderr as FILE:LINE:COL: message. Exit 0 if all are\n"
     "valid, 2 otherwise.\n"},
    {"samples",
     "usage: cnn samples CONFIG [--count N] [--out DIR] [--train]\n"
     "\n"
     "Writes the first N images (default 10) of the config's test set (--train: training set) to DIR\n"
     "(default ./samples) as NNNNN-CLASS.png; prints DIR and the count.\n"},
    {"bench",
     "usage: cnn bench CONFIG|CHECKPOINT [--batch N] [--threads N] [--mode train|infer|kernels|all]\n"
     "                 [--seconds S] [--runs R]\n"
     "\n"
     "Measures the single-core FMA peak now, then on random data in memory: a training step\n"
     "(forward, loss, backward, SGD update) at --batch (default 64) with --threads (default: one\n"
     "per core), per layer forward and backward milliseconds, GFLOP/s and % of peak; then\n"
     "infer64 (forward, batch 64) and infer1 (batch 1, 1 thread). Each figure is the median of\n"
     "R runs (default 5) of at least S seconds (default 1) after a warm-up. Lines are\n"
     "KEY<TAB>VALUE (train_img_per_s, infer64_img_per_s, infer1_ms, peak_rss_mb) plus tables.\n"
     "--mode all (the default) is train and infer. --mode kernels instead times each layer's\n"
     "forward and backward alone at --batch on --threads (default 1): the step is run up to the\n"
     "layer, then its call is repeated for S/10 seconds with its data in cache and the median\n"
     "call is shown, against the peak of the threads used.\n"},
    {"filters",
     "usage: cnn filters [-m MODEL] [--layer NAME] [--out FILE.png]\n"
     "\n"
     "Draws the weights of a conv (or dense) layer, by default the first conv, as a grid of grey\n"
     "tiles, one row per filter and one tile per input channel, each tile scaled to its own range.\n"
     "Writes FILE.png (default filters.png) and prints FILE<TAB>LAYER<TAB>shape.\n"},
    {"features",
     "usage: cnn features [-m MODEL] IMAGE [--layer NAME] [--out FILE.png]\n"
     "\n"
     "Runs IMAGE through the model and draws the output of a layer (default: the first conv), one\n"
     "grey tile per channel, each scaled to its own range. Writes FILE.png (default features.png)\n"
     "and prints FILE<TAB>LAYER<TAB>shape.\n"},
    {"help", "usage: cnn help [train|predict|eval|summary|check|samples|bench|filters|features|config|layers|exit]\n"},
};

int usage(FILE *f, const char *cmd) {
    if (!cmd) { fputs(general, f); return 0; }
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        if (!strcmp(texts[i].cmd, cmd)) { fputs(texts[i].text, f); return 0; }
    return 1;
}

int cmd_help(int argc, char **argv) {
    if (argc < 2) { usage(stdout, NULL); return 0; }
    const char *t = argv[1];
    if (!strcmp(t, "exit")) {
        fputs(strstr(general, "Exit codes"), stdout);
        return 0;
    }
    if (!strcmp(t, "config") || !strcmp(t, "layers")) {
        int layers = !strcmp(t, "layers");
        cnn_key_doc d;
        const char *last = "";
        for (int i = 0; cnn_config_key_doc(i, &d); i++) {
            int is_layer = !strncmp(d.section, "layer ", 6);
            if (is_layer != layers) continue;
            if (strcmp(last, d.section)) {
                if (!*d.key) printf("\n%s: %s\n", d.section + (is_layer ? 6 : 0), d.doc);
                else printf("\n[%s]\n", *d.section ? d.section : "top level");
                last = d.section;
                if (!*d.key) continue;
            }
            printf("  %-18s %-22s default %-10s %s\n", d.key, d.type, *d.def ? d.def : "-", d.doc);
        }
        if (layers) printf("\nEvery layer also takes: type, name, input (one earlier layer) or inputs (a list).\n");
        return 0;
    }
    if (usage(stdout, t)) return fail(2, "no help on '%s' (try cnn --help)", t);
    return 0;
}
