/* SPDX-License-Identifier: Apache-2.0 */
/* Replays a fuzz target's corpus as a regression test for `make check`:
 * every file of the corpus directory goes once through the target's
 * LLVMFuzzerTestOneInput, the entry point libFuzzer drives, built here by
 * the ordinary compiler without libFuzzer (and with the sanitizers when
 * configured with them). A target signals a broken invariant by aborting,
 * so a crash or abort fails the test. TAP: one line per file. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file's bytes in an exact-size buffer (nothing after them to hide an
 * over-read), like libFuzzer's own. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    struct stat st;

    if (f && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)
        && (buf = malloc(st.st_size ? (size_t)st.st_size : 1)) != NULL
        && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(buf);
        buf = NULL;
    }
    *len = buf ? (size_t)st.st_size : 0;
    if (f) {
        fclose(f);
    }
    return buf;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : OBO_FUZZ_CORPUS_DIR "/" OBO_FUZZ_TARGET;
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL, path[4096];
    size_t n = 0, i, len;
    int failed = 0;

    LLVMFuzzerInitialize(&argc, &argv);
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            names = realloc(names, (n + 1) * sizeof(*names));
            names[n++] = strdup(e->d_name);
        }
    }
    if (d) {
        closedir(d);
    }
    qsort(names, n, sizeof(*names), by_name);
    for (i = 0; i < n; i++) {
        unsigned char *buf;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        buf = slurp(path, &len);
        if (!buf) {
            printf("not ok %zu - cannot read %s\n", i + 1, names[i]);
            failed++;
            continue;
        }
        if (LLVMFuzzerTestOneInput(buf, len) != 0) {
            printf("not ok %zu - %s: the target returned non-zero\n", i + 1, names[i]);
            failed++;
        }
        else {
            printf("ok %zu - %s (%zu bytes)\n", i + 1, names[i], len);
        }
        fflush(stdout);
        free(buf);
        free(names[i]);
    }
    if (n == 0) {
        printf("not ok 1 - no corpus files in %s\n", dir);
        failed++;
    }
    printf("1..%zu\n", n ? n : 1);
    free(names);
    return failed ? 1 : 0;
}
