/* seiflow's compiled MTP evaluator: energy, forces, virial and the per-atom basis values
 * (the rows of the MaxVol grade) in one pass over a CSR neighbour list.
 *
 * Site energy of atom i:  E_i = c_type(i) + sum_s w_s B_s(n_i), B_s = m[mapping[s]], where the
 * moments m are the basic moments
 *     m_b = sum_j f_mu(b)(r_ij) P_b(u_ij),   u_ij = r_ij / |r_ij|,   P_b = x^a y^b z^c of u_ij
 * followed by the contractions m[k] += mult * m[i] * m[j] ("times" rows, in order, grouped
 * into runs of equal k so each output is summed in a register).
 * f_mu(r) = sum_k C[ti][tj][mu][k] T_k(s(r)) * scaling * (rmax - r)^2 (Chebyshev on [rmin, rmax]).
 *
 * Gradient (reverse mode, per atom): the adjoints dm of the moments are propagated back through
 * the contractions; then per neighbour  dE/df_mu = sum_b dm_b P_b  and  dE/dP = sum_b dm_b f_mu,
 * back through the monomial tree (P_m = P_parent * u_axis) to dE/du, and
 *     dE_i/dr_ij = (sum_mu dE/df_mu f'_mu) u + (dE/du - (dE/du . u) u) / r.
 * Per-neighbour arrays are laid out neighbour-contiguous (padded to a multiple of LANES with
 * zero radial functions) so the inner loops vectorise.
 *
 * The Python side (kernel.py) loads this library with ctypes; the PyInit below only makes the
 * module importable (so a missing build shows up as an ImportError).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef __cplusplus
#define MTP_EXPORT extern "C"
#else
#define MTP_EXPORT
#endif

#define LANES 8
#define MAX_RFC 16 /* radial functions (MLIP's levels use at most 6) */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MTP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MTP_CLONES
#endif
/* helpers inline into each clone of atom(), so they are compiled for its instruction set */
#if defined(__GNUC__)
#define MTP_INLINE inline __attribute__((always_inline))
#else
#define MTP_INLINE inline
#endif

typedef struct {
    int n_species, rfc, rbs;      /* species, radial functions, Chebyshev basis size */
    int n_basic, n_mono, n_groups, n_scalar, n_moments;
    const int *basic_mu;          /* n_basic: radial function of each basic moment */
    const int *basic_mono;        /* n_basic: monomial of each basic moment */
    const int *by_mono;           /* n_basic: basic moments ordered by monomial ... */
    const int *mono_start;        /* n_mono + 1: ... of monomial q at [start[q], start[q+1]) */
    const int *mono_parent;       /* n_mono: P_m = P_parent * u_axis (entry 0 is P = 1) */
    const int *mono_axis;
    const int *group_k;           /* n_groups: contraction outputs, in order ... */
    const int *group_start;       /* n_groups + 1: ... each a run of contraction terms */
    const int *term_ij;           /* n_terms x 2: m[k] += mult * m[i] * m[j] */
    const double *term_mult;      /* n_terms */
    const int *adj_order;         /* n_moments: order in which the adjoints dE/dm become final */
    const int *use_start;         /* n_moments + 1: uses of moment x as a contraction input ... */
    const int *use_k;             /* ... at [start[x], start[x+1]): output k, */
    const int *use_other;         /* the other input, */
    const double *use_mult;       /* and the multiplicity: dE/dm_x += mult dE/dm_k m_other */
    const int *mapping;           /* n_scalar: moment index of each basis function */
    const double *radial_coeffs;  /* [n_species][n_species][rfc][rbs] */
    const double *species_coeffs; /* n_species */
    const double *moment_coeffs;  /* n_scalar */
    double scaling, rmin, rmax;
} mtp_model;

typedef struct {
    int cap;                                  /* padded neighbour capacity */
    int *jidx, *jtype;
    double *dx, *dy, *dz, *r, *inv_r, *ux, *uy, *uz;
    double *tb, *dtb;                         /* rbs x cap: smoothed Chebyshev values, d/dr */
    double *f, *fp, *af;                      /* rfc x cap: f_mu, f'_mu, dE/df_mu */
    double *mono, *amono;                     /* n_mono x cap: P_m, dE/dP_m */
    double *aux, *auy, *auz;                  /* cap: dE/du */
    double *m, *dm;                           /* n_moments */
    void *block;
} workspace;

static int ws_init(workspace *w, const mtp_model *M, int max_neighbours)
{
    int cap = (max_neighbours + LANES - 1) / LANES * LANES;
    if (cap == 0)
        cap = LANES;
    size_t per = (size_t)cap;
    size_t n_vec = 11 + 2 * (size_t)M->rbs + 3 * (size_t)M->rfc + 2 * (size_t)M->n_mono;
    size_t bytes = n_vec * per * sizeof(double) + 2 * (size_t)M->n_moments * sizeof(double)
                   + 2 * per * sizeof(int) + 64;
    char *p = (char *)aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p)
        return -1;
    w->block = p;
    w->cap = cap;
    double *d = (double *)p;
    double **vecs[] = {&w->dx, &w->dy, &w->dz, &w->r, &w->inv_r, &w->ux, &w->uy, &w->uz,
                       &w->aux, &w->auy, &w->auz};
    for (int k = 0; k < 11; k++) {
        *vecs[k] = d;
        d += per;
    }
    w->tb = d; d += per * M->rbs;
    w->dtb = d; d += per * M->rbs;
    w->f = d; d += per * M->rfc;
    w->fp = d; d += per * M->rfc;
    w->af = d; d += per * M->rfc;
    w->mono = d; d += per * M->n_mono;
    w->amono = d; d += per * M->n_mono;
    w->m = d; d += M->n_moments;
    w->dm = d; d += M->n_moments;
    w->jidx = (int *)d;
    w->jtype = w->jidx + per;
    return 0;
}

/* Neighbours of atom i inside the cutoff: vectors, distances, unit vectors; returns their count
 * and pads the lanes up to a multiple of LANES (unit vector 0, distance rmax). */
static MTP_INLINE int gather(workspace *w, const mtp_model *M, int i, const double *pos,
                             const double *cell, const int *types, const int64_t *offsets,
                             const int32_t *nj, const int32_t *ns)
{
    double rc2 = M->rmax * M->rmax;
    int n = 0;
    for (int64_t k = offsets[i]; k < offsets[i + 1]; k++) {
        int j = nj[k];
        const int32_t *s = ns + 3 * k;
        double d[3];
        for (int a = 0; a < 3; a++)
            d[a] = pos[3 * j + a] - pos[3 * i + a] + s[0] * cell[a] + s[1] * cell[3 + a]
                   + s[2] * cell[6 + a];
        double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if (r2 >= rc2 || r2 < 1e-20)
            continue;
        double r = sqrt(r2);
        w->dx[n] = d[0];
        w->dy[n] = d[1];
        w->dz[n] = d[2];
        w->r[n] = r;
        w->inv_r[n] = 1.0 / r;
        w->ux[n] = d[0] / r;
        w->uy[n] = d[1] / r;
        w->uz[n] = d[2] / r;
        w->jidx[n] = j;
        w->jtype[n] = types[j];
        n++;
    }
    int np = (n + LANES - 1) / LANES * LANES;
    for (int k = n; k < np; k++) {
        w->dx[k] = w->dy[k] = w->dz[k] = 0.0;
        w->r[k] = M->rmax;
        w->inv_r[k] = w->ux[k] = w->uy[k] = w->uz[k] = 0.0;
        w->jidx[k] = -1;
        w->jtype[k] = 0;
    }
    return n;
}

/* Smoothed Chebyshev basis and radial functions f_mu, f'_mu of every neighbour. */
static MTP_INLINE void radial(workspace *w, const mtp_model *M, int ti, int n, int np)
{
    const int cap = w->cap, rbs = M->rbs, rfc = M->rfc;
    const double scale = 2.0 / (M->rmax - M->rmin), mid = M->rmax + M->rmin;
    double *tb = w->tb, *dtb = w->dtb;
    for (int k = 0; k < np; k++) {
        double s = (2.0 * w->r[k] - mid) / (M->rmax - M->rmin);
        double h = M->rmax - w->r[k];
        double sm = M->scaling * h * h, dsm = -2.0 * M->scaling * h;
        double t0 = 1.0, t1 = s, d0 = 0.0, d1 = scale;
        tb[k] = sm;
        dtb[k] = dsm;
        if (rbs > 1) {
            tb[cap + k] = s * sm;
            dtb[cap + k] = scale * sm + s * dsm;
        }
        for (int q = 2; q < rbs; q++) {
            double t2 = 2.0 * s * t1 - t0, d2 = 2.0 * scale * t1 + 2.0 * s * d1 - d0;
            tb[q * cap + k] = t2 * sm;
            dtb[q * cap + k] = d2 * sm + t2 * dsm;
            t0 = t1; t1 = t2; d0 = d1; d1 = d2;
        }
    }
    /* neighbours come sorted by type: one coefficient row per run of equal types */
    int start = 0;
    while (start < n) {
        int tj = w->jtype[start], end = start;
        while (end < n && w->jtype[end] == tj)
            end++;
        const double *c = M->radial_coeffs + ((size_t)(ti * M->n_species + tj) * rfc) * rbs;
        for (int mu = 0; mu < rfc; mu++) {
            double *f = w->f + mu * cap, *fp = w->fp + mu * cap;
            for (int k = start; k < end; k++) {
                f[k] = 0.0;
                fp[k] = 0.0;
            }
            for (int q = 0; q < rbs; q++) {
                double cq = c[mu * rbs + q];
                const double *t = tb + q * cap, *dt = dtb + q * cap;
                for (int k = start; k < end; k++) {
                    f[k] += cq * t[k];
                    fp[k] += cq * dt[k];
                }
            }
        }
        start = end;
    }
    for (int mu = 0; mu < rfc; mu++)
        for (int k = n; k < np; k++)
            w->f[mu * cap + k] = w->fp[mu * cap + k] = 0.0;
}

/* Moments of atom i: monomials, basic moments, contractions. */
static MTP_INLINE void moments(workspace *w, const mtp_model *M, int np)
{
    const int cap = w->cap;
    const double *u[3] = {w->ux, w->uy, w->uz};
    double *mono = w->mono;
    for (int k = 0; k < np; k++)
        mono[k] = 1.0;
    for (int q = 1; q < M->n_mono; q++) {
        const double *p = mono + M->mono_parent[q] * cap, *ua = u[M->mono_axis[q]];
        double *o = mono + q * cap;
        for (int k = 0; k < np; k++)
            o[k] = p[k] * ua[k];
    }
    double *m = w->m;
    for (int b = 0; b < M->n_basic; b++) {
        const double *f = w->f + M->basic_mu[b] * cap, *p = mono + M->basic_mono[b] * cap;
        double acc[LANES] = {0};
        for (int k = 0; k < np; k += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += f[k + l] * p[k + l];
        double s = 0.0;
        for (int l = 0; l < LANES; l++)
            s += acc[l];
        m[b] = s;
    }
    for (int q = M->n_basic; q < M->n_moments; q++)
        m[q] = 0.0;
    const int *ij = M->term_ij;
    const double *mult = M->term_mult;
    for (int g = 0; g < M->n_groups; g++) {
        /* four partial sums: the terms are independent, one chain would be latency-bound */
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
        int t = M->group_start[g], end = M->group_start[g + 1];
        for (; t + 3 < end; t += 4) {
            a0 += mult[t] * m[ij[2 * t]] * m[ij[2 * t + 1]];
            a1 += mult[t + 1] * m[ij[2 * t + 2]] * m[ij[2 * t + 3]];
            a2 += mult[t + 2] * m[ij[2 * t + 4]] * m[ij[2 * t + 5]];
            a3 += mult[t + 3] * m[ij[2 * t + 6]] * m[ij[2 * t + 7]];
        }
        for (; t < end; t++)
            a0 += mult[t] * m[ij[2 * t]] * m[ij[2 * t + 1]];
        m[M->group_k[g]] += (a0 + a1) + (a2 + a3);
    }
}

/* Adjoints of the moments (dE_i/dm): each gathered from the moments it feeds (no scatter), in an
 * order where every user is final first; seed = the moment coefficients at the mapped moments. */
static MTP_INLINE void moment_adjoints(workspace *w, const mtp_model *M, const double *seed)
{
    double *dm = w->dm;
    const double *m = w->m;
    for (int t = 0; t < M->n_moments; t++) {
        int x = M->adj_order[t];
        const int *k = M->use_k, *o = M->use_other;
        const double *c = M->use_mult;
        double a0 = seed[x], a1 = 0.0, a2 = 0.0, a3 = 0.0;
        int u = M->use_start[x], end = M->use_start[x + 1];
        for (; u + 3 < end; u += 4) {
            a0 += c[u] * dm[k[u]] * m[o[u]];
            a1 += c[u + 1] * dm[k[u + 1]] * m[o[u + 1]];
            a2 += c[u + 2] * dm[k[u + 2]] * m[o[u + 2]];
            a3 += c[u + 3] * dm[k[u + 3]] * m[o[u + 3]];
        }
        for (; u < end; u++)
            a0 += c[u] * dm[k[u]] * m[o[u]];
        dm[x] = (a0 + a1) + (a2 + a3);
    }
}

/* dE_i/dr_ij of every neighbour, left in (aux, auy, auz). */
static MTP_INLINE void neighbour_gradient(workspace *w, const mtp_model *M, int np)
{
    const int cap = w->cap;
    memset(w->af, 0, sizeof(double) * M->rfc * cap);
    for (int q = 0; q < M->n_mono; q++) {
        const double *p = w->mono + q * cap;
        double *ap = w->amono + q * cap;
        for (int k = 0; k < np; k++)
            ap[k] = 0.0;
        for (int t = M->mono_start[q]; t < M->mono_start[q + 1]; t++) {
            int b = M->by_mono[t], mu = M->basic_mu[b];
            double g = w->dm[b];
            const double *f = w->f + mu * cap;
            double *af = w->af + mu * cap;
            for (int k = 0; k < np; k++) {
                af[k] += g * p[k];
                ap[k] += g * f[k];
            }
        }
    }
    double *au[3] = {w->aux, w->auy, w->auz};
    memset(w->aux, 0, sizeof(double) * cap);
    memset(w->auy, 0, sizeof(double) * cap);
    memset(w->auz, 0, sizeof(double) * cap);
    const double *u[3] = {w->ux, w->uy, w->uz};
    for (int q = M->n_mono - 1; q >= 1; q--) {
        int par = M->mono_parent[q], ax = M->mono_axis[q];
        const double *aq = w->amono + q * cap, *pp = w->mono + par * cap, *ua = u[ax];
        double *ap = w->amono + par * cap, *aa = au[ax];
        for (int k = 0; k < np; k++) {
            ap[k] += aq[k] * ua[k];
            aa[k] += aq[k] * pp[k];
        }
    }
    for (int k = 0; k < np; k++) {
        double gr = 0.0;
        for (int mu = 0; mu < M->rfc; mu++)
            gr += w->af[mu * cap + k] * w->fp[mu * cap + k];
        double ax = w->aux[k], ay = w->auy[k], az = w->auz[k];
        double ux = w->ux[k], uy = w->uy[k], uz = w->uz[k];
        double dot = ax * ux + ay * uy + az * uz, ir = w->inv_r[k];
        w->aux[k] = gr * ux + (ax - dot * ux) * ir;
        w->auy[k] = gr * uy + (ay - dot * uy) * ir;
        w->auz[k] = gr * uz + (az - dot * uz) * ir;
    }
}

/* One atom: energy, basis row, forces (into frc) and virial (into vir). */
MTP_CLONES
/* Add atom i's pair gradients (aux/auy/auz) to the forces of i and its neighbours and to the
 * virial: shared by the run and train passes. */
static void scatter_forces(const workspace *w, int i, int n, double *frc, double *vir)
{
    for (int k = 0; k < n; k++) {
        int j = w->jidx[k];
        double g[3] = {w->aux[k], w->auy[k], w->auz[k]};
        double d[3] = {w->dx[k], w->dy[k], w->dz[k]};
        for (int a = 0; a < 3; a++) {
            frc[3 * i + a] += g[a];
            frc[3 * j + a] -= g[a];
            for (int c = 0; c < 3; c++)
                vir[3 * a + c] += g[a] * d[c];
        }
    }
}

static void atom(workspace *w, const mtp_model *M, const double *seed, int i, const double *pos,
                 const double *cell, const int *types, const int64_t *offsets, const int32_t *nj,
                 const int32_t *ns, double *energies, double *frc, double *vir, double *basis)
{
    int n = gather(w, M, i, pos, cell, types, offsets, nj, ns);
    int np = (n + LANES - 1) / LANES * LANES;
    int ti = types[i];
    radial(w, M, ti, n, np);
    moments(w, M, np);
    double e = M->species_coeffs[ti];
    for (int s = 0; s < M->n_scalar; s++) {
        double v = w->m[M->mapping[s]];
        e += M->moment_coeffs[s] * v;
        if (basis)
            basis[(size_t)i * M->n_scalar + s] = v;
    }
    energies[i] = e;
    moment_adjoints(w, M, seed);
    neighbour_gradient(w, M, np);
    scatter_forces(w, i, n, frc, vir);
}

/* Evaluate every atom. offsets (n_atoms + 1) index the neighbour arrays nj (atom) and ns
 * (periodic shift, 3 ints, in cell vectors); neighbours of each atom sorted by type. Outputs:
 * energies (n_atoms), forces (n_atoms x 3), virial (3 x 3: sum g_a d_b, dE/dstrain), basis
 * (n_atoms x n_scalar, or NULL). Returns 0, or -1 when memory ran out. */
MTP_EXPORT int mtp_evaluate(const mtp_model *M, int n_atoms, const double *pos, const double *cell,
                 const int *types, const int64_t *offsets, const int32_t *nj, const int32_t *ns,
                 int n_threads, double *energies, double *forces, double *virial, double *basis)
{
    int max_nb = 0, failed = 0;
    for (int i = 0; i < n_atoms; i++) {
        int c = (int)(offsets[i + 1] - offsets[i]);
        max_nb = c > max_nb ? c : max_nb;
    }
    memset(forces, 0, sizeof(double) * 3 * n_atoms);
    memset(virial, 0, sizeof(double) * 9);
#ifdef _OPENMP
    if (n_threads < 1)
        n_threads = omp_get_max_threads();
    if (n_threads > n_atoms / 16 + 1)
        n_threads = n_atoms / 16 + 1;
#else
    n_threads = 1;
#endif
    double *seed = (double *)calloc((size_t)M->n_moments, sizeof(double)), *priv = NULL;
    if (!seed)
        return -1;
    for (int s = 0; s < M->n_scalar; s++)
        seed[M->mapping[s]] += M->moment_coeffs[s];
    if (n_threads > 1) {
        size_t per_thread = 3 * (size_t)n_atoms + 9;
        priv = (double *)calloc((size_t)(n_threads - 1) * per_thread, sizeof(double));
        if (!priv) {
            free(seed);
            return -1;
        }
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
#endif
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *frc = forces, *vir = virial;
        if (tid > 0) {
            frc = priv + (size_t)(tid - 1) * (3 * (size_t)n_atoms + 9);
            vir = frc + 3 * (size_t)n_atoms;
        }
        workspace w;
        int ok = ws_init(&w, M, max_nb) == 0;
        failed |= !ok;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 8)
#endif
        for (int i = 0; i < n_atoms; i++)
            if (ok)
                atom(&w, M, seed, i, pos, cell, types, offsets, nj, ns, energies, frc, vir,
                     basis);
        if (ok)
            free(w.block);
    }
    for (int t = 1; t < n_threads; t++) {
        const double *p = priv + (size_t)(t - 1) * (3 * (size_t)n_atoms + 9);
        for (size_t q = 0; q < 3 * (size_t)n_atoms; q++)
            forces[q] += p[q];
        for (int q = 0; q < 9; q++)
            virial[q] += p[3 * (size_t)n_atoms + q];
    }
    free(priv);
    free(seed);
    return failed ? -1 : 0;
}

#include "_mtptrain.h"
#include "_mtpmd.h"

/* Whether the library was built with OpenMP, and how many threads it would use. */
MTP_EXPORT int mtp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 0;
#endif
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_mtpkernel",
                                    "seiflow's compiled MTP evaluator (called through ctypes)",
                                    -1, NULL};

PyMODINIT_FUNC PyInit__mtpkernel(void) { return PyModule_Create(&module); }
